// RUN: -p tpu-lower
// EQUIV: exact
// quant.prelu -> tpu.prelu: the activate function prelu rescales each lane by the
// sign of q - z_in with the op's multipliers (one table per 256-channel block).
module {
  func.func @main(%x: tensor<1x3x2x2xf32>) -> (tensor<1x3x2x2xf32> {qcc.name = "p"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2x!quant.uniform<i8:f32, 0.02:0>>
    %p_q = "quant.prelu"(%x_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824], negative_multiplier = [1073741824, -1073741824, 0], negative_shift = [0, 1, 0], shift = [2], slope = [0.25, -0.5, 0.0]} : (tensor<1x3x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x3x2x2x!quant.uniform<i8:f32, 0.01:-20>>
    %sp = "quant.dequantize"(%p_q) : (tensor<1x3x2x2x!quant.uniform<i8:f32, 0.01:-20>>) -> tensor<1x3x2x2xf32>
    return %sp : tensor<1x3x2x2xf32>
  }
}
// CHECK: %p_q = "tpu.prelu"(%x_q_1) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824], negative_multiplier = [1073741824, -1073741824, 0], negative_shift = [0, 1, 0], shift = [2]}
// CHECK-NOT: "quant.prelu"
