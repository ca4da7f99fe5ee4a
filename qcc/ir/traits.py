"""Op traits: facts about op classes that passes ask about instead of listing classes.

An op class declares its traits as instances (a trait may carry parameters)::

    @register_op
    class ReluOp(UnaryOp):
        name = "nn.relu"
        traits = (Elementwise(), Clamp())

and a pass asks ``op.has_trait(Clamp)`` or ``op.trait(HasWeights).weight_axis``
(both also work on the class). ``ops_with(T, "nn")`` is the tuple of registered op
classes of a dialect that have trait ``T``, for pattern roots and ``Graph.walk``.

A trait states a fact about what the op computes, independent of any target; which
unit of a machine runs an op is the backend's business (``Unit``, for the ops of a
target's own dialect). Subclasses inherit their base's ``traits`` unless they
declare their own. Each trait's docstring is its definition: declare it on an op
only if the op satisfies it exactly, because passes rely on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from qcc.ir.core import OP_REGISTRY, Op


@dataclass(frozen=True)
class Trait:
    """Base of all traits. Equal traits have the same class and parameters."""


@dataclass(frozen=True)
class Elementwise(Trait):
    """Each result element is computed from the operand elements at the same index
    (after numpy broadcasting of the operands) and nothing else; the result has the
    broadcast shape. Per-axis parameters (a per-channel requantize) are allowed.
    Softmax is not elementwise (it reads its whole axis)."""


@dataclass(frozen=True)
class ScaleTransparent(Trait):
    """Every result element is a copy of an operand element: moved (reshape,
    transpose, concat), passed through (identity) or selected by comparison (max
    pooling). So on quantized operands that all have one per-tensor type the op runs
    on the integer codes and its result has that type:
    ``op(dequantize(x)) == dequantize(op(x))``. ``fold-rescale`` sinks dequantizes
    through the one-operand ones; ``export-qdq`` lets them take quantized tensors."""


@dataclass(frozen=True)
class DataMovement(Trait):
    """The op rearranges the elements of its one operand without reading them: every
    element kept, none computed or dropped (reshape, transpose, identity). Its
    result type follows a per-axis quantization axis to where its dimension moves,
    so it can run on quantized constants (``constant-fold`` folds it through a
    dequantize of a constant). Implies ``ScaleTransparent``."""


@dataclass(frozen=True)
class NoOp(Trait):
    """At inference the result is the operand, unchanged (Identity, Dropout):
    ``remove-identity`` and ``canonicalize`` forward its uses to the operand."""


@dataclass(frozen=True)
class Commutative(Trait):
    """A binary op whose two operands may be swapped without changing the result."""


@dataclass(frozen=True)
class Clamp(Trait):
    """The result is the operand clamped to a constant interval (ReLU: [0, inf),
    Clip: [min, max]). On a quantized tensor it is exactly a clamp of the integer
    codes, so ``fuse-relu`` folds it into the clamp bounds of a ``Clamped`` producer."""


@dataclass(frozen=True)
class ClampFusable(Trait):
    """A float op whose integer form (after ``fold-rescale``) ends in a ``Clamped``
    op, so a ``Clamp`` activation after it folds away: ``quantize`` does not quantize
    its output when only such activations use it (their range is the one that
    matters)."""


@dataclass(frozen=True)
class Clamped(Trait):
    """An integer op that ends by clamping its result to the attributes
    ``[clamp_min, clamp_max]``; a following ``Clamp`` activation may narrow them."""


@dataclass(frozen=True)
class HasWeights(Trait):
    """A linear map of operand ``input`` by operand ``weight`` (constant after
    import) plus an optional ``bias`` per output channel. ``weight_axis`` is the
    output-channel axis of the weight (what per-channel quantization and batch-norm
    folding scale), ``output_axis`` the output-channel axis of the result (negative:
    from the end)."""

    weight_axis: int
    output_axis: int


@dataclass(frozen=True)
class Pool(Trait):
    """Reduces windows of the spatial axes (2 and up) of its one operand, separately
    for each sample (axis 0) and channel (axis 1)."""


@dataclass(frozen=True)
class Accumulates(Trait):
    """An integer op whose result is an int32 accumulator (sum of products or window
    sums) typed with the scale it stands for; one ``quant.requantize`` brings it back
    to 8 bits."""


@dataclass(frozen=True)
class IntegerForm(Trait):
    """An op of the integer program that ``fold-rescale`` produces: it computes on
    integer codes and has no QDQ (fake-quantized) form. ``of`` is the float op it
    implements (whose schema it shares when the attributes agree), None if none."""

    of: type[Op] | None = None


@dataclass(frozen=True)
class Unit(Trait):
    """Which unit of a target machine runs the op. For the ops of a target's own
    dialect (the core dialects stay target-independent and declare no unit)."""

    name: str


def ops_with(kind: type[Trait], dialect: str | None = None) -> tuple[type[Op], ...]:
    """The registered op classes (of ``dialect``, e.g. ``"nn"``, when given) that have
    trait ``kind``, in registration order. Reads the registry when called: a pattern
    table built at import sees the dialects imported by then, so name the dialect."""
    return tuple(cls for name, cls in OP_REGISTRY.items()
                 if cls.has_trait(kind) and (dialect is None
                                             or name.split(".", 1)[0] == dialect))


def integer_form(float_op: type[Op]) -> type[Op] | None:
    """The registered integer op whose ``IntegerForm.of`` is ``float_op``, if any."""
    for cls in OP_REGISTRY.values():
        t = cls.trait(IntegerForm)
        if t is not None and t.of is float_op:
            return cls
    return None
