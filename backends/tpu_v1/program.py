"""A compiled TPU program: instructions, weight-memory image, I/O descriptors and
manifest, and how host tensors are laid out as Unified Buffer rows.

Activation layout (host buffers and the Unified Buffer alike): a tensor is a list
of 256-byte rows. A 4-D tensor [N, C, H, W] has one row per pixel in N, H, W
order, holding up to 256 channels; with more than 256 channels the channel blocks
follow one another (block 0's pixels, then block 1's...). A 2-D tensor [N, K] has
one row per batch element, K in blocks of 256 the same way, and a 3-D tensor
[B, T, H] (a transformer's tokens) one row per token in B, T order, H in blocks of
256: 2-D and 3-D tensors have their last axis across the lanes (``lane_axis``).
In host memory each
row takes only its valid bytes (``row_bytes`` of the block); in the Unified Buffer
a row always starts a new 256-byte line and the unused lanes are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from qcc.backends.tpu_v1.isa import Instruction
from qcc.backends.tpu_v1.target import LANES, Target, load_target
from qcc.diagnostics import QccError

__all__ = ["LANES", "RAW_DTYPES", "HostSegment", "Program", "TensorDesc", "from_rows",
           "lane_axis", "to_rows"]


def lane_axis(rank: int) -> int:
    """The axis of a tensor of ``rank`` that goes across the 256 lanes of a row:
    the channels (axis 1) of a 4-D NCHW tensor, the last axis of any other (the
    features of [N, K], the hidden units of [B, T, H])."""
    return 1 if rank == 4 else rank - 1


#: dtypes of program inputs the host keeps as they are (tpu.host_input): never in
#: the Unified Buffer, stored C-order in host memory
RAW_DTYPES = {"f32": np.dtype("<f4"), "i64": np.dtype("<i8"), "i32": np.dtype("<i4"),
              "i1": np.dtype(np.bool_)}


@dataclass(frozen=True)
class TensorDesc:
    """A program input or output as the host sees it."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "i8" or "u8": the storage type in host memory
    scale: float
    zero_point: int
    host_offset: int  # byte address in the host buffer space

    @property
    def numpy_dtype(self) -> np.dtype:
        if self.dtype in RAW_DTYPES:
            return RAW_DTYPES[self.dtype]
        return np.dtype(np.int8 if self.dtype == "i8" else np.uint8)

    @property
    def raw(self) -> bool:
        """A tensor the host keeps as given (not quantized, never in the UB)."""
        return self.dtype in RAW_DTYPES

    @property
    def channels(self) -> int:
        return self.shape[lane_axis(len(self.shape))]

    @property
    def pixels(self) -> int:
        """Rows per channel block."""
        return math.prod(self.shape) // self.channels

    @property
    def blocks(self) -> list[int]:
        """Valid lanes of each channel block."""
        c = self.channels
        return [min(LANES, c - b) for b in range(0, c, LANES)]

    @property
    def host_bytes(self) -> int:
        if self.raw:
            return math.prod(self.shape) * self.numpy_dtype.itemsize
        return self.pixels * self.channels


def to_rows(desc: TensorDesc, q: np.ndarray) -> bytes:
    """Host bytes of an integer tensor in the row layout (blocks of channels)."""
    if q.shape != desc.shape:
        raise QccError(f"'{desc.name}' has shape {list(q.shape)}, the program expects "
                       f"{list(desc.shape)}")
    if desc.raw:
        return np.ascontiguousarray(q, desc.numpy_dtype).tobytes()
    axis = lane_axis(q.ndim)
    channels_last = np.moveaxis(q, axis, -1).reshape(desc.pixels, desc.channels)
    parts = [channels_last[:, b:b + LANES] for b in range(0, desc.channels, LANES)]
    return b"".join(np.ascontiguousarray(p, desc.numpy_dtype).tobytes() for p in parts)


def from_rows(desc: TensorDesc, data: bytes) -> np.ndarray:
    """Inverse of :func:`to_rows`."""
    if desc.raw:
        return np.frombuffer(data, desc.numpy_dtype,
                             count=math.prod(desc.shape)).reshape(desc.shape).copy()
    flat = np.frombuffer(data, desc.numpy_dtype, count=desc.host_bytes)
    parts, pos = [], 0
    for lanes in desc.blocks:
        n = desc.pixels * lanes
        parts.append(flat[pos:pos + n].reshape(desc.pixels, lanes))
        pos += n
    channels_last = np.concatenate(parts, axis=1)
    axis = lane_axis(len(desc.shape))
    rest = [d for k, d in enumerate(desc.shape) if k != axis]
    nhwc = channels_last.reshape((*rest, desc.channels))
    return np.moveaxis(nhwc, -1, axis).copy()


@dataclass(frozen=True)
class HostSegment:
    """Ops the host runs (partition.py): IR text of a module whose arguments and
    results are host tensors, by name (program inputs and outputs or
    ``Program.host_tensors``)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    ir: str


@dataclass
class Program:
    """Everything the simulator (or a device) needs to run a compiled model."""

    instructions: list[Instruction]
    #: weight-memory image: weight tiles first, then activation tables
    weights: bytes
    inputs: list[TensorDesc]
    outputs: list[TensorDesc]
    #: the target's name
    target: str
    manifest: dict[str, str] = field(default_factory=dict)
    #: per instruction: the layer (ONNX node) it belongs to, for per-layer counters
    layer_of: list[str] = field(default_factory=list)
    #: per instruction: multiply-accumulates that carry model data (matmul only)
    useful_macs: list[int] = field(default_factory=list)
    #: the simulator's decoded weight tiles (derived from ``weights``, kept between
    #: runs the way a runtime keeps prepacked weights)
    decoded_tiles: dict = field(default_factory=dict, repr=False, compare=False)
    #: the full description of the target the program was compiled for (the binary's
    #: TARGET section); None only for a program built by hand, which then stands for
    #: the shipped target named ``target``
    target_desc: Target | None = None
    #: tensors that move between the TPU and host segments (not the model's I/O)
    host_tensors: list[TensorDesc] = field(default_factory=list)
    #: what the host runs, by ``host_call`` segment index
    segments: list[HostSegment] = field(default_factory=list)
    #: host memory after the inputs and outputs for tensors spilled by tpu-tile-ub
    #: (the binary's optional HOST_SCRATCH section; 0: none)
    scratch_bytes: int = 0

    def resolve_target(self) -> Target:
        """The program's own target: its description, or the shipped one it names."""
        if self.target_desc is None:
            return load_target(self.target)
        if self.target_desc.name != self.target:
            raise QccError(f"the program names target '{self.target}' but carries the "
                           f"description of '{self.target_desc.name}'")
        return self.target_desc

    @property
    def host_bytes(self) -> int:
        """Size of the host buffer space (inputs, outputs, host tensors, then the
        scratch of spilled tensors)."""
        ends = [d.host_offset + d.host_bytes
                for d in (*self.inputs, *self.outputs, *self.host_tensors)]
        return max(ends, default=0) + self.scratch_bytes
