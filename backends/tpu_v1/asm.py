"""TPU-v1 assembly: a text form of whole programs that round-trips byte for byte.

    text = disassemble(load_binary(data))     # or disassemble(data)
    assert serialize(assemble(text)) == data

One statement per line; ``;`` and ``#`` start comments::

    .target "tpu-v1"                 ; a shipped target, by name
    .manifest model_sha256="..."
    .input name="x" shape=[1,1,8,8] dtype=i8 scale=0.5 zero_point=-128 host=0
    .output name="y" shape=[1,10] dtype=i8 scale=0.25 zero_point=0 host=64
    read_host host=0 ub=0 rows=64 row_bytes=1 host_stride=1
    halt
    .weights 131072
    00010000: 7f0081...

Instructions are ``mnemonic field=value ...`` with the fields of the ISA table
(decimal, or hex with 0x); fields left out are 0. The disassembler writes every
field in table order. ``.weights SIZE`` sets the weight image to SIZE zero bytes;
each data line ``OFFSET: HEX`` (offset in hex) fills bytes in, in increasing
order. The binary also records the qcc version that wrote it: a file written by
the same qcc version round-trips exactly. Errors are ``file:line:col: error: ...``
with the source line and a caret; the program is validated like a loaded binary.

The target: ``.target "NAME"`` alone is the shipped target NAME (or a ``.toml``
file's path). A program for any other description (a user's target file, or a
shipped name with other numbers) carries it in full, as the disassembler writes it::

    .target "huge" description="24 MiB more UB" what_if=true
    .target_table array rows=256 cols=256 clock_hz=700000000.0
    .target_table unified_buffer rows=196608 row_bytes=256
    ...                              ; one line per table of the target file

and the assembler checks it like a target file (every key, types and ranges).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import lark

from qcc.backends.tpu_v1 import isa
from qcc.backends.tpu_v1.binary import (
    FORMAT_VERSION,
    ProgramError,
    check_descriptor,
    read_binary,
    validate_program,
)
from qcc.backends.tpu_v1.program import HostSegment, Program, TensorDesc
from qcc.backends.tpu_v1.target import (
    Target,
    TargetError,
    list_targets,
    load_target,
    target_from_raw,
    target_to_raw,
)
from qcc.diagnostics import FileLoc, QccError
from qcc.version import __version__

BYTES_PER_LINE = 64
#: the largest '.weights' size the assembler allocates: a guard against a typo (a
#: size with extra digits) before the target is read, not a fact of any machine; the
#: target's own weight memory bounds the image when the program is validated
MAX_WEIGHT_BYTES = 1 << 33
DESC_ATTRS = ("name", "shape", "dtype", "scale", "zero_point", "host")
_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------------- disassembly
def disassemble(program_or_bytes: Program | bytes, where: str = "<bytes>",
                elide_weights: bool = False) -> str:
    """The assembly text of a program, or of a binary (loaded and validated first).
    With ``elide_weights`` the weight image is summarized by its size and SHA-256
    (for goldens and reading; such text does not assemble back)."""
    if isinstance(program_or_bytes, Program):
        program, version = program_or_bytes, __version__
    else:
        loaded = read_binary(program_or_bytes, where)
        program, version = loaded.program, loaded.qcc_version
    weights = bytes(program.weights)
    lines = [f"; TPU program: {len(program.instructions)} instructions, {len(weights)} "
             f"weight bytes (binary format {FORMAT_VERSION}, written by qcc {version})",
             *_target_lines(program.resolve_target())]
    lines += [f".manifest {_key(k)}={_quote(program.manifest[k])}"
              for k in sorted(program.manifest)]
    for kind, descs in (("input", program.inputs), ("output", program.outputs),
                        ("host_tensor", program.host_tensors)):
        lines += [f".{kind} {_describe(d)}" for d in descs]
    for seg in program.segments:
        names = {k: "[" + ",".join(_quote(n) for n in v) + "]"
                 for k, v in (("inputs", seg.inputs), ("outputs", seg.outputs))}
        lines.append(f".segment inputs={names['inputs']} outputs={names['outputs']} "
                     f"ir={_quote(seg.ir)}")
    lines.append("")
    layer = None
    for k, ins in enumerate(program.instructions):
        if program.layer_of and program.layer_of[k] != layer:
            layer = program.layer_of[k]
            lines.append(f".layer {_quote(layer)}")
        if program.useful_macs and program.useful_macs[k]:
            lines.append(f".macs {program.useful_macs[k]}")
        lines.append(" ".join([ins.op, *(f"{f.name}={ins.args[f.name]}"
                                         for f in ins.defn.operands)]))
    lines += ["", f".weights {len(weights)}"]
    if elide_weights:
        digest = hashlib.sha256(weights).hexdigest()
        lines.append(f"; weight data elided: sha256 {digest}")
        return "\n".join(lines) + "\n"
    for off in range(0, len(weights), BYTES_PER_LINE):
        chunk = weights[off:off + BYTES_PER_LINE]
        if any(chunk):
            lines.append(f"{off:08x}: {chunk.hex()}")
    return "\n".join(lines) + "\n"


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)


#: the top-level keys of a target description that `.target` takes as attributes
_TARGET_ATTRS = ("description", "what_if")


def _target_lines(target: Target) -> list[str]:
    """``.target "NAME"`` for a shipped target as shipped; otherwise the whole
    description, so that the text assembles back to the same TARGET section."""
    if target.name in list_targets() and load_target(target.name) == target:
        return [f".target {_quote(target.name)}"]
    raw = target_to_raw(target)
    head = " ".join(f"{k}={_value(raw[k])}" for k in _TARGET_ATTRS)
    lines = [f".target {_quote(target.name)} {head}"]
    for section, table in raw.items():
        if isinstance(table, dict):
            lines.append(f".target_table {section} " +
                         " ".join(f"{k}={_value(v)}" for k, v in table.items()))
    return lines


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _quote(v)
    return repr(v)  # int, or float: repr is the shortest exact form


def _key(s: str) -> str:
    return s if _BARE_KEY.fullmatch(s) else _quote(s)


def _describe(d: TensorDesc) -> str:
    shape = ",".join(str(int(x)) for x in d.shape)
    return (f"name={_quote(d.name)} shape=[{shape}] dtype={d.dtype} "
            f"scale={float(d.scale)!r} zero_point={int(d.zero_point)} "
            f"host={int(d.host_offset)}")


# ---------------------------------------------------------------------- assembly
@cache
def _parser() -> lark.Lark:
    grammar = resources.files("qcc.backends.tpu_v1").joinpath("asm.lark").read_text()
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=True)


def assemble(text: str, filename: str = "<asm>", *, validate: bool = True) -> Program:
    """Parse assembly into a Program (``serialize`` it for the binary). Unless
    ``validate`` is false, the program is checked like a loaded binary (against the
    memories of its ``.target``), and errors point at the offending instruction's
    line."""
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except lark.UnexpectedCharacters as e:
        raise QccError(f"unexpected character {text[e.pos_in_stream]!r}",
                       FileLoc(filename, e.line, e.column), text) from None
    except lark.UnexpectedToken as e:
        tok = e.token
        if tok.type == "$END":
            raise QccError("unexpected end of input", _end_of(text, filename), text) from None
        expected = sorted({_TERMINALS.get(t, repr(t.lower())) for t in e.accepts or e.expected})
        found = "end of line" if tok.type == "_NL" else repr(str(tok))
        raise QccError(f"unexpected {found:.40} (expected {', '.join(expected)})",
                       FileLoc(filename, tok.line, tok.column), text) from None
    except lark.UnexpectedEOF:
        raise QccError("unexpected end of input", _end_of(text, filename), text) from None
    return _Assembler(text, filename).build(tree, validate)


_TERMINALS = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
              "DIRECTIVE": "a directive", "DATA_LINE": "a weight data line",
              "_NL": "end of line", "EQUAL": "'='", "LSQB": "'['", "RSQB": "']'",
              "COMMA": "','"}


def _end_of(text: str, filename: str) -> FileLoc:
    lines = text.rstrip().split("\n")
    return FileLoc(filename, len(lines), len(lines[-1]) + 1)


def _position(node: Any) -> tuple[int, int]:
    if isinstance(node, lark.Token):
        return node.line or 1, node.column or 1
    meta = getattr(node, "meta", None)
    if meta is not None and not meta.empty:
        return meta.line, meta.column
    return 1, 1


class _Assembler:
    """Builds a Program from the parse tree, one statement at a time."""

    def __init__(self, text: str, filename: str):
        self.text, self.filename = text, filename
        self.instructions: list[isa.Instruction] = []
        self.instruction_tokens: list[lark.Token] = []
        self.target: str | None = None
        self.target_tok: lark.Token | None = None
        # an inline description: `.target` attributes and `.target_table` lines, and
        # the token of each key (errors point at it)
        self.target_raw: dict[str, Any] = {}
        self.target_keys: dict[str, lark.Token] = {}
        self.manifest: dict[str, str] = {}
        self.descs: dict[str, list[TensorDesc]] = {"input": [], "output": [],
                                                   "host_tensor": []}
        self.segments: list[HostSegment] = []
        self.weights: bytearray | None = None
        self.weights_end = 0  # end of the last data line: lines go in increasing order
        # layer annotations (.layer "name", .macs N): the binary's LAYERS section
        self.layer: str | None = None
        self.annotated = False
        self.pending_macs = 0
        self.layer_of: list[str] = []
        self.useful_macs: list[int] = []

    def error(self, message: str, node: Any) -> QccError:
        return QccError(message, FileLoc(self.filename, *_position(node)), self.text)

    def build(self, tree: lark.Tree, validate: bool) -> Program:
        for stmt in tree.children:
            getattr(self, stmt.data)(stmt)
        if self.target is None:
            raise QccError("missing '.target' directive (e.g. .target \"tpu-v1\")",
                           FileLoc(self.filename, 1, 1), self.text)
        target = self.resolve_target()
        try:
            weights = bytes(self.weights or b"")
        except MemoryError:
            raise QccError(f"no memory for the {len(self.weights)}-byte weight image",
                           _end_of(self.text, self.filename), self.text) from None
        program = Program(self.instructions, weights, self.descs["input"],
                          self.descs["output"], target.name, self.manifest,
                          layer_of=self.layer_of if self.annotated else [],
                          useful_macs=self.useful_macs if self.annotated else [],
                          target_desc=target, host_tensors=self.descs["host_tensor"],
                          segments=self.segments)
        try:
            if validate:
                validate_program(program, target)
        except ProgramError as e:
            if e.index is None:
                raise QccError(e.detail, _end_of(self.text, self.filename), self.text) from None
            raise self.error(e.detail, self.instruction_tokens[e.index]) from None
        return program

    def resolve_target(self) -> Target:
        """The inline description if there is one, else the target named."""
        assert self.target is not None and self.target_tok is not None
        if not self.target_raw:
            try:
                return load_target(self.target)
            except QccError as e:
                raise self.error(e.message, self.target_tok) from None
        try:
            return target_from_raw({"name": self.target, **self.target_raw},
                                   f"'.target' description of '{self.target}'")
        except TargetError as e:
            section = e.key.partition(".")[0]
            tok = self.target_keys.get(e.key) or self.target_keys.get(section) or \
                self.target_tok
            raise self.error(e.message, tok) from None

    # ------------------------------------------------------------------ values
    def integer(self, value: lark.Tree, what: str) -> int:
        if value.data != "int":
            raise self.error(f"{what} needs an integer", value)
        tok = str(value.children[0])
        return int(tok, 16 if "x" in tok.lower() else 10)

    def string(self, value: lark.Tree, what: str) -> str:
        if value.data != "string":
            raise self.error(f"{what} needs a string in double quotes", value)
        return self.unquote(value.children[0])

    def unquote(self, tok: lark.Token) -> str:
        try:
            return json.loads(str(tok), strict=False)
        except ValueError:
            raise self.error("invalid escape in string (use JSON escapes: \\\" \\\\ \\n "
                             "\\uXXXX)", tok) from None

    # ------------------------------------------------------------------ statements
    def instruction(self, tree: lark.Tree) -> None:
        name_tok, *operands = tree.children
        defn = isa.BY_MNEMONIC.get(str(name_tok))
        if defn is None:
            known = ", ".join(d.mnemonic for d in isa.ISA)
            raise self.error(f"unknown mnemonic '{name_tok}' (known: {known})", name_tok)
        fields = {f.name: f for f in defn.operands}
        args: dict[str, int] = {}
        for operand in operands:
            field_tok, value = operand.children
            field = fields.get(str(field_tok))
            if field is None:
                listed = ", ".join(fields) or "none"
                raise self.error(f"'{defn.mnemonic}' has no field '{field_tok}' (fields: "
                                 f"{listed})", field_tok)
            if field.name in args:
                raise self.error(f"field '{field.name}' given twice", field_tok)
            v = self.integer(value, f"field '{field.name}'")
            if not 0 <= v <= field.max:
                raise self.error(f"value {v} of field '{field.name}' does not fit in "
                                 f"{field.bits} bits (0..{field.max})", value)
            args[field.name] = v
        self.instructions.append(isa.Instruction(defn.mnemonic, **args))
        self.instruction_tokens.append(name_tok)
        self.layer_of.append(self.layer or "")
        self.useful_macs.append(self.pending_macs)
        self.pending_macs = 0

    def directive(self, tree: lark.Tree) -> None:
        tok, *items = tree.children
        handler = _DIRECTIVES.get(str(tok))
        if handler is None:
            raise self.error(f"unknown directive '{tok}' (known: "
                             f"{', '.join(sorted(_DIRECTIVES))})", tok)
        positional = [i for i in items if i.data != "attribute"]
        attrs: dict[str, tuple[lark.Tree, lark.Token]] = {}
        for item in items:
            if item.data == "attribute":
                key_tok, value = item.children
                key = self.unquote(key_tok) if key_tok.type == "STRING" else str(key_tok)
                if key in attrs:
                    raise self.error(f"'{key}' given twice", key_tok)
                attrs[key] = (value, key_tok)
        handler(self, tok, positional, attrs)

    def data_line(self, tree: lark.Tree) -> None:
        tok = tree.children[0]
        offset_text, hex_text = str(tok).split(":", 1)
        hex_text = hex_text.strip()
        hex_col = tok.column + len(str(tok)) - len(hex_text)
        hex_at = lark.Token("DATA", hex_text, line=tok.line, column=hex_col)
        if self.weights is None:
            raise self.error("weight data before the '.weights SIZE' directive", tok)
        if len(hex_text) % 2:
            raise self.error("odd number of hex digits in weight data", hex_at)
        offset, data = int(offset_text, 16), bytes.fromhex(hex_text)
        if offset < self.weights_end:
            raise self.error(f"weight data at 0x{offset:x} overlaps or precedes the previous "
                             f"line (which ends at 0x{self.weights_end:x})", tok)
        if offset + len(data) > len(self.weights):
            raise self.error(f"weight data [0x{offset:x}, 0x{offset + len(data):x}) is "
                             f"outside the {len(self.weights)}-byte weight image", tok)
        self.weights[offset:offset + len(data)] = data
        self.weights_end = offset + len(data)


# ---------------------------------------------------------------------- directives
Attrs = dict[str, tuple[lark.Tree, lark.Token]]


def _no_attrs(asm: _Assembler, tok: lark.Token, attrs: Attrs) -> None:
    for _, key_tok in attrs.values():
        raise asm.error(f"'{tok}' takes no attributes", key_tok)


def _target(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    if len(positional) != 1:
        raise asm.error("'.target' takes one string, e.g. .target \"tpu-v1\"", tok)
    if asm.target is not None:
        raise asm.error("a second '.target' directive", tok)
    asm.target = asm.string(positional[0], "'.target'")
    asm.target_tok = positional[0].children[0]
    for key, (value, key_tok) in attrs.items():
        if key not in _TARGET_ATTRS:
            raise asm.error(f"'.target' has no attribute '{key}' (attributes: "
                            f"{', '.join(_TARGET_ATTRS)}; the tables go on "
                            "'.target_table' lines)", key_tok)
        asm.target_raw[key] = _target_value(asm, value, key)
        asm.target_keys[key] = key_tok


def _target_table(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs
                  ) -> None:
    """``.target_table SECTION key=value ...``: one table of an inline target."""
    if len(positional) != 1 or positional[0].data != "name":
        raise asm.error("'.target_table' takes a table name and its keys, e.g. "
                        ".target_table array rows=256 cols=256 clock_hz=700e6", tok)
    if asm.target is None:
        raise asm.error("'.target_table' before the '.target' directive", tok)
    name_tok = positional[0].children[0]
    section = str(name_tok)
    if section in asm.target_raw:
        raise asm.error(f"a second '.target_table {section}'", name_tok)
    table: dict[str, Any] = {}
    for key, (value, key_tok) in attrs.items():
        table[key] = _target_value(asm, value, f"{section}.{key}")
        asm.target_keys[f"{section}.{key}"] = key_tok
    asm.target_raw[section] = table
    asm.target_keys[section] = name_tok


def _target_value(asm: _Assembler, value: lark.Tree, key: str) -> Any:
    """A target key's value: an integer, a number, a string, true or false."""
    if value.data == "int":
        return asm.integer(value, f"'{key}'")
    if value.data == "float":
        return float(str(value.children[0]))
    if value.data == "string":
        return asm.string(value, f"'{key}'")
    if value.data == "name" and str(value.children[0]) in ("true", "false"):
        return str(value.children[0]) == "true"
    raise asm.error(f"'{key}' needs a number, a string, true or false", value)


def _manifest(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    if positional or not attrs:
        raise asm.error("'.manifest' takes key=\"value\" entries", positional[0]
                        if positional else tok)
    for key, (value, key_tok) in attrs.items():
        if key in asm.manifest:
            raise asm.error(f"manifest key '{key}' given twice", key_tok)
        asm.manifest[key] = asm.string(value, f"manifest entry '{key}'")


def _io(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    kind = str(tok)[1:]
    if positional:
        raise asm.error(f"'{tok}' takes only attributes ({', '.join(DESC_ATTRS)})",
                        positional[0])
    for key, (_, key_tok) in attrs.items():
        if key not in DESC_ATTRS:
            raise asm.error(f"'{tok}' has no attribute '{key}' (attributes: "
                            f"{', '.join(DESC_ATTRS)})", key_tok)
    missing = [a for a in DESC_ATTRS if a not in attrs]
    if missing:
        raise asm.error(f"'{tok}' needs {', '.join(a + '=' for a in missing)}", tok)
    shape_tree = attrs["shape"][0]
    if shape_tree.data != "list":
        raise asm.error("'shape' needs a list of integers, e.g. [1,1,8,8]", shape_tree)
    shape = tuple(asm.integer(v, "a dimension") for v in shape_tree.children if v is not None)
    dtype_tree = attrs["dtype"][0]
    dtype = str(dtype_tree.children[0]) if dtype_tree.data == "name" else \
        asm.string(dtype_tree, "'dtype'")
    scale_tree = attrs["scale"][0]
    if scale_tree.data not in ("float", "int"):
        raise asm.error("'scale' needs a number", scale_tree)
    scale = float(str(scale_tree.children[0])) if scale_tree.data == "float" else \
        float(asm.integer(scale_tree, "'scale'"))
    desc = TensorDesc(asm.string(attrs["name"][0], "'name'"), shape, dtype, scale,
                      asm.integer(attrs["zero_point"][0], "'zero_point'"),
                      asm.integer(attrs["host"][0], "'host'"))
    problem = check_descriptor(desc, kind)
    if problem is None and any(d.name == desc.name for d in asm.descs[kind]):
        problem = f"the name '{desc.name}' is used by an earlier {kind}"
    if problem is not None:
        raise asm.error(f"{kind} '{desc.name}': {problem}", tok)
    asm.descs[kind].append(desc)


def _segment(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    """``.segment inputs=["a"] outputs=["b"] ir="..."``: a host segment (the next
    segment index), its tensors by name and its IR text."""
    keys = ("inputs", "outputs", "ir")
    if positional:
        raise asm.error(f"'.segment' takes only attributes ({', '.join(keys)})",
                        positional[0])
    for key, (_, key_tok) in attrs.items():
        if key not in keys:
            raise asm.error(f"'.segment' has no attribute '{key}' (attributes: "
                            f"{', '.join(keys)})", key_tok)
    missing = [k for k in keys if k not in attrs]
    if missing:
        raise asm.error(f"'.segment' needs {', '.join(k + '=' for k in missing)}", tok)
    names = {}
    for key in ("inputs", "outputs"):
        tree = attrs[key][0]
        if tree.data != "list":
            raise asm.error(f"'{key}' needs a list of strings, e.g. [\"x\"]", tree)
        names[key] = tuple(asm.string(v, f"an entry of '{key}'") for v in tree.children
                           if v is not None)
    asm.segments.append(HostSegment(names["inputs"], names["outputs"],
                                    asm.string(attrs["ir"][0], "'ir'")))


def _weights(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    _no_attrs(asm, tok, attrs)
    if len(positional) != 1:
        raise asm.error("'.weights' takes the image size in bytes, e.g. .weights 65536", tok)
    if asm.weights is not None:
        raise asm.error("a second '.weights' directive", tok)
    size = asm.integer(positional[0], "'.weights'")
    if not 0 <= size <= MAX_WEIGHT_BYTES:
        raise asm.error(f"weight image size {size} is outside 0..{MAX_WEIGHT_BYTES}",
                        positional[0])
    try:
        asm.weights = bytearray(size)
    except MemoryError:
        raise asm.error(f"no memory for a {size}-byte weight image", positional[0]) from None


def _layer(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    """``.layer "name"``: the layer the following instructions belong to."""
    _no_attrs(asm, tok, attrs)
    if len(positional) != 1:
        raise asm.error("'.layer' takes one string, e.g. .layer \"conv1\"", tok)
    asm.layer = asm.string(positional[0], "'.layer'")
    asm.annotated = True


def _macs(asm: _Assembler, tok: lark.Token, positional: list, attrs: Attrs) -> None:
    """``.macs N``: the useful multiply-accumulates of the next instruction."""
    _no_attrs(asm, tok, attrs)
    if len(positional) != 1:
        raise asm.error("'.macs' takes one integer", tok)
    value = asm.integer(positional[0], "'.macs'")
    if value < 0:
        raise asm.error("'.macs' must not be negative", positional[0])
    asm.pending_macs = value
    asm.annotated = True


_DIRECTIVES = {".target": _target, ".target_table": _target_table, ".manifest": _manifest,
               ".input": _io, ".output": _io, ".weights": _weights, ".layer": _layer,
               ".macs": _macs, ".host_tensor": _io, ".segment": _segment}
