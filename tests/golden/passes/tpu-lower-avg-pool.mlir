// RUN: -p tpu-lower
// EQUIV: exact
// Average pooling + requantize -> tpu.pool{kind = "avg"}: window sums of centered values
// into the accumulators, then requantize (the average's 1/n is in the multiplier).
// AveragePool 2x2, stride 2.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x2x2x2xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.016970287584790997:9>>
    %0 = "quant.avg_pool"(%x_q) {ceil_mode = false, count_include_pad = false, kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.016970287584790997:9>>) -> tensor<1x2x2x2x!quant.uniform<i32:f32, 0.004242571896197749:0>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1847814621], shift = [-1]} : (tensor<1x2x2x2x!quant.uniform<i32:f32, 0.004242571896197749:0>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.009861220565496707:-14>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.009861220565496707:-14>>) -> tensor<1x2x2x2xf32>
    return %y_dq : tensor<1x2x2x2xf32>
  }
}
// CHECK: %y_q = "tpu.pool"(%x_q_1) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], kernel = [2, 2], kind = "avg", multiplier = [1847814621], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [-1], strides = [2, 2]}
// CHECK-NOT: "quant.avg_pool"
// CHECK-NOT: "quant.requantize"

// -----

// Padding counted (count_include_pad = 1): the pads stay on the pool.
module {
  func.func @main(%x: tensor<1x2x3x3xf32>) -> (tensor<1x2x3x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3x!quant.uniform<i8:f32, 0.016805055562187643:10>>
    %0 = "quant.avg_pool"(%x_q) {ceil_mode = false, count_include_pad = true, kernel = [3, 3], pads = [1, 1, 1, 1], strides = [1, 1]} : (tensor<1x2x3x3x!quant.uniform<i8:f32, 0.016805055562187643:10>>) -> tensor<1x2x3x3x!quant.uniform<i32:f32, 0.001867228395798627:0>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1332896633], shift = [-1]} : (tensor<1x2x3x3x!quant.uniform<i32:f32, 0.001867228395798627:0>>) -> tensor<1x2x3x3x!quant.uniform<i8:f32, 0.006016734300875196:6>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x2x3x3x!quant.uniform<i8:f32, 0.006016734300875196:6>>) -> tensor<1x2x3x3xf32>
    return %y_dq : tensor<1x2x3x3xf32>
  }
}
// CHECK: %y_q = "tpu.pool"(%x_q_1)
// CHECK-SAME: kernel = [3, 3], kind = "avg",
// CHECK-SAME: pads = [1, 1, 1, 1],
// CHECK-NOT: "quant.avg_pool"

// -----

// GlobalAveragePool: one window of the whole 3x3 image.
module {
  func.func @main(%x: tensor<2x3x3x3xf32>) -> (tensor<2x3x1x1xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x3x3x3xf32>) -> tensor<2x3x3x3x!quant.uniform<i8:f32, 0.017257354773727116:11>>
    %0 = "quant.global_avg_pool"(%x_q) : (tensor<2x3x3x3x!quant.uniform<i8:f32, 0.017257354773727116:11>>) -> tensor<2x3x1x1x!quant.uniform<i32:f32, 0.0019174838637474574:0>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1426229177], shift = [-1]} : (tensor<2x3x1x1x!quant.uniform<i32:f32, 0.0019174838637474574:0>>) -> tensor<2x3x1x1x!quant.uniform<i8:f32, 0.0057743388063767375:11>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x3x1x1x!quant.uniform<i8:f32, 0.0057743388063767375:11>>) -> tensor<2x3x1x1xf32>
    return %y_dq : tensor<2x3x1x1xf32>
  }
}
// CHECK: %y_q = "tpu.pool"(%x_q_1)
// CHECK-SAME: kernel = [3, 3], kind = "avg",
// CHECK-SAME: pads = [0, 0, 0, 0],
// CHECK-SAME: strides = [1, 1]}
// CHECK-SAME: -> tensor<2x3x1x1x
// CHECK-NOT: "quant.global_avg_pool"
