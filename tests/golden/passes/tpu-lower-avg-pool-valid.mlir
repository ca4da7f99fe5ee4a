// RUN: -p tpu-lower
// EQUIV: exact
// Average pooling without counted padding (ShuffleNet): quant.avg_pool_valid ->
// tpu.avg_pool_valid: window sums in the pool unit, then one activation table per
// window count (here 4 and 6 positions), each output pixel requantized with its own.
module {
  func.func @main(%x: tensor<1x2x3x4xf32>) -> (tensor<1x2x2x4xf32> {qcc.name = "avg"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>
    %avg_q = "quant.avg_pool_valid"(%x_q) {ceil_mode = false, clamp_max = 127, clamp_min = -128, count_include_pad = false, counts = [4, 6], kernel = [3, 3], multiplier = [1399551683, 1866068911], pads = [1, 1, 1, 1], shift = [0, -1], strides = [2, 1]} : (tensor<1x2x3x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>) -> tensor<1x2x2x4x!quant.uniform<i8:f32, 0.007264372180489933:15>>
    %avg_dq = "quant.dequantize"(%avg_q) : (tensor<1x2x2x4x!quant.uniform<i8:f32, 0.007264372180489933:15>>) -> tensor<1x2x2x4xf32>
    return %avg_dq : tensor<1x2x2x4xf32>
  }
}
// CHECK: %avg_q = "tpu.avg_pool_valid"(%x_q_1) {ceil_mode = false, clamp_max = 127, clamp_min = -128, count_include_pad = false, counts = [4, 6], dilations = [1, 1], kernel = [3, 3], multipliers = [1399551683, 1866068911], pads = [1, 1, 1, 1], row_chunk = 2048, shifts = [0, -1], strides = [2, 1]}
// CHECK-NOT: "quant.avg_pool_valid"
