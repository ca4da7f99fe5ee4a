"""Target-independent passes, one per module; importing this package registers them.

| pass              | what it does                                                    |
|-------------------|-----------------------------------------------------------------|
| calibrate         | quant.stats ranges by minmax, percentile, entropy or mse        |
| canonicalize      | local simplifications to a fixed point, folding, dead code      |
| constant-fold     | evaluate ops whose operands are constants; merge equal ones     |
| dce               | erase unused side-effect-free ops                               |
| fold-batchnorm    | fold inference batch norm into the preceding conv2d / dense     |
| fold-mul-add      | Mul / Add by per-channel constants into a conv2d / dense        |
| fold-rescale      | dequantize -> op -> quantize chains into integer ops            |
| fuse-gelu         | x * 0.5 * (1 + Erf(x / sqrt(2))) -> nn.gelu (also in canonicalize) |
| fuse-relu         | ReLU / Clip into the clamp of the requantize before them        |
| mixed-precision   | keep in float the activations whose int8 error costs the most   |
| normalize-gemm    | Gemm / MatMul -> nn.dense(x, w[K, N], bias[N])                  |
| quantize          | calibrated f32 graph -> quantize/dequantize + int8 weights      |
| remove-identity   | drop Identity and Dropout                                       |
"""

from qcc.passes import (
    calibrate,
    canonicalize,
    constant_fold,
    dce,
    fold_batchnorm,
    fold_mul_add,
    fold_rescale,
    fuse_gelu,
    fuse_relu,
    mixed_precision,
    normalize_gemm,
    quantize,
    remove_identity,
)

#: what `qcc import` and `qcc run` apply to a freshly imported model by default
DEFAULT_PIPELINE = "canonicalize,normalize-gemm,fold-batchnorm,canonicalize"

__all__ = [
    "DEFAULT_PIPELINE",
    "calibrate",
    "canonicalize",
    "constant_fold",
    "dce",
    "fold_batchnorm",
    "fold_mul_add",
    "fold_rescale",
    "fuse_gelu",
    "fuse_relu",
    "mixed_precision",
    "normalize_gemm",
    "quantize",
    "remove_identity",
]
