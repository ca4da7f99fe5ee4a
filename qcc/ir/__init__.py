"""The IR: types, attributes, values, ops, graphs, modules, rewriter and verifier."""

from qcc.ir.attributes import (
    AnyAttr,
    Bool,
    Dense,
    DenseAttr,
    Float,
    Floats,
    Int,
    Ints,
    Str,
    TypeAttr,
)
from qcc.ir.core import (
    OP_REGISTRY,
    Graph,
    Module,
    Op,
    ReturnOp,
    Rewriter,
    Use,
    Value,
    VerifyError,
    attr,
    operand,
    register_op,
    result,
)
from qcc.ir.types import (
    ElementType,
    FloatType,
    IntegerType,
    QuantType,
    TensorType,
    Type,
    UniformQuantPerAxisType,
    UniformQuantType,
    f32,
    f64,
    i8,
    i32,
    i64,
    u8,
)
from qcc.ir.verifier import verify

__all__ = [
    "OP_REGISTRY", "AnyAttr", "Bool", "Dense", "DenseAttr", "ElementType", "Float",
    "FloatType", "Floats", "Graph", "Int", "IntegerType", "Ints", "Module", "Op",
    "QuantType", "ReturnOp", "Rewriter", "Str", "TensorType", "Type", "TypeAttr",
    "UniformQuantPerAxisType", "UniformQuantType", "Use", "Value", "VerifyError", "attr",
    "f32", "f64", "i8", "i32", "i64", "operand", "register_op", "result", "u8", "verify",
]
