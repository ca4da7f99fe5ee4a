// RUN: -p tpu-lower
// EQUIV: exact
// A depthwise convolution (group = C, one filter per channel) -> tpu.conv2d with
// block-diagonal tiles: 4 channels, so all 9 taps pack into one row and one tile.
// Stride 2, pad 1, ReLU6 fused into the clamp; zx = 0, so the bias is unchanged.
module {
  func.func @main(%x: tensor<1x4x5x5xf32>) -> (tensor<1x4x3x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x4x5x5xf32>) -> tensor<1x4x5x5x!quant.uniform<i8:f32, 0.024205386404897652:0>>
    %w = "nn.constant"() {value = dense<"0x22CA1DF7F88132F67E27BDAD45CB29EE7F054A42E9F04900D63C7FFE7FF37CED7A34F319"> : tensor<4x1x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.00406858864731676:0, 0.004969688381735734:0, 0.006105936418368122:0, 0.0033505805364743933:0}>>} : () -> tensor<4x1x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.00406858864731676:0, 0.004969688381735734:0, 0.006105936418368122:0, 0.0033505805364743933:0}>>
    %b = "nn.constant"() {value = dense<[-1525, -2700, -2051, -32]> : tensor<4x!quant.uniform<i32:f32:0, {9.848176033088203e-05:0, 0.00012029322759184395:0, 0.0001477965503703372:0, 8.110209656609197e-05:0}>>} : () -> tensor<4x!quant.uniform<i32:f32:0, {9.848176033088203e-05:0, 0.00012029322759184395:0, 0.0001477965503703372:0, 8.110209656609197e-05:0}>>
    %0 = "quant.conv2d"(%x_q, %w, %b) {dilations = [1, 1], group = 4, pads = [1, 1, 1, 1], strides = [2, 2]} : (tensor<1x4x5x5x!quant.uniform<i8:f32, 0.024205386404897652:0>>, tensor<4x1x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.00406858864731676:0, 0.004969688381735734:0, 0.006105936418368122:0, 0.0033505805364743933:0}>>, tensor<4x!quant.uniform<i32:f32:0, {9.848176033088203e-05:0, 0.00012029322759184395:0, 0.0001477965503703372:0, 8.110209656609197e-05:0}>>) -> tensor<1x4x3x3x!quant.uniform<i32:f32:1, {9.848176033088203e-05:0, 0.00012029322759184395:0, 0.0001477965503703372:0, 8.110209656609197e-05:0}>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1930054649, 1178758901, 1448265233, 1589446391], shift = [-6, -5, -5, -6]} : (tensor<1x4x3x3x!quant.uniform<i32:f32:1, {9.848176033088203e-05:0, 0.00012029322759184395:0, 0.0001477965503703372:0, 8.110209656609197e-05:0}>>) -> tensor<1x4x3x3x!quant.uniform<i8:f32, 0.0070128740048875995:-128>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x4x3x3x!quant.uniform<i8:f32, 0.0070128740048875995:-128>>) -> tensor<1x4x3x3xf32>
    return %y_dq : tensor<1x4x3x3xf32>
  }
}
// CHECK: %y_q_bias = "nn.constant"() {value = dense<[-1525, -2700, -2051, -32]> : tensor<4xi32>}
// CHECK-NEXT: %y_q = "tpu.conv2d"(%x_q_1, %w, %y_q_bias)
// CHECK-SAME: group = 4, k_tiles = 1,
// CHECK-SAME: n_tiles = 1, pads = [1, 1, 1, 1],
// CHECK-SAME: strides = [2, 2], taps_per_row = 9, tiles = [1]}
// CHECK-SAME: tensor<4x1x3x3x
// CHECK-NOT: "quant.dense"
// CHECK-NOT: "quant.conv2d"
// CHECK-NOT: "quant.requantize"
