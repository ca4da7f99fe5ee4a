// RUN: -p tpu-lower
// EQUIV: exact
// nn.max_pool of an int8 tensor -> tpu.pool{kind = "max"} (no requantization: the
// result has the input's type); the requantize that follows to the next scale is a
// tpu.activate.
// MaxPool 3x3, stride 2, pad 1.
module {
  func.func @main(%x: tensor<1x2x5x5xf32>) -> (tensor<1x2x3x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x5x5xf32>) -> tensor<1x2x5x5x!quant.uniform<i8:f32, 0.01712822166143679:10>>
    %0 = "nn.max_pool"(%x_q) {ceil_mode = false, dilations = [1, 1], kernel = [3, 3], pads = [1, 1, 1, 1], strides = [2, 2]} : (tensor<1x2x5x5x!quant.uniform<i8:f32, 0.01712822166143679:10>>) -> tensor<1x2x3x3x!quant.uniform<i8:f32, 0.01712822166143679:10>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1171043729], shift = [2]} : (tensor<1x2x3x3x!quant.uniform<i8:f32, 0.01712822166143679:10>>) -> tensor<1x2x3x3x!quant.uniform<i8:f32, 0.007852519727220722:-128>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x2x3x3x!quant.uniform<i8:f32, 0.007852519727220722:-128>>) -> tensor<1x2x3x3xf32>
    return %y_dq : tensor<1x2x3x3xf32>
  }
}
// CHECK: %0 = "tpu.pool"(%x_q_1) {clamp_max = 0, clamp_min = 0, dilations = [1, 1], kernel = [3, 3], kind = "max", multiplier = [], pads = [1, 1, 1, 1], row_chunk = 2048, shift = [], strides = [2, 2]}
// CHECK-NEXT: %y_q = "tpu.activate"(%0)
// CHECK-NOT: "nn.max_pool"
