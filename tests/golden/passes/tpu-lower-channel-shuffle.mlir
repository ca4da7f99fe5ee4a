// RUN: -p tpu-lower
// EQUIV: exact
// A channel shuffle (ShuffleNet: reshape [N, g, C/g, H, W], transpose(0, 2, 1, 3, 4),
// reshape back) -> one permuted channel copy on the matrix unit: a 1x1 tpu.conv2d whose
// 0/1 weights select input channel 0, 3, 1, 4, 2, 5 for output channel 0..5, with the
// identity requantization (bias -zx = 100 folds the input zero point out).
module {
  func.func @main(%x: tensor<1x6x3x3xf32>) -> (tensor<1x6x2x2xf32> {qcc.name = "shuffle"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x6x3x3xf32>) -> tensor<1x6x3x3x!quant.uniform<i8:f32, 0.02062376620722752:3>>
    %0 = "nn.max_pool"(%x_q) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x6x3x3x!quant.uniform<i8:f32, 0.02062376620722752:3>>) -> tensor<1x6x2x2x!quant.uniform<i8:f32, 0.02062376620722752:3>>
    %pool_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1969113125], shift = [1]} : (tensor<1x6x2x2x!quant.uniform<i8:f32, 0.02062376620722752:3>>) -> tensor<1x6x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>
    %split_q = "nn.reshape"(%pool_q) {shape = [1, 2, 3, 2, 2]} : (tensor<1x6x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>) -> tensor<1x2x3x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>
    %swap_q = "nn.transpose"(%split_q) {perm = [0, 2, 1, 3, 4]} : (tensor<1x2x3x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>) -> tensor<1x3x2x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>
    %shuffle_q = "nn.reshape"(%swap_q) {shape = [1, 6, 2, 2]} : (tensor<1x3x2x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>) -> tensor<1x6x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>
    %shuffle_dq = "quant.dequantize"(%shuffle_q) : (tensor<1x6x2x2x!quant.uniform<i8:f32, 0.01124597670985203:-100>>) -> tensor<1x6x2x2xf32>
    return %shuffle_dq : tensor<1x6x2x2xf32>
  }
}
// CHECK: %pool_q = "tpu.activate"(%0)
// CHECK-NEXT: %shuffle_q_select = "nn.constant"() {value = dense<"0x010000000000000000010000000100000000000000000100000001000000000000000001"> : tensor<6x6x1x1x!quant.uniform<i8<-127:127>:f32, 1.0:0>>}
// CHECK-NEXT: %shuffle_q_bias = "nn.constant"() {value = dense<100> : tensor<6xi32>}
// CHECK-NEXT: %shuffle_q = "tpu.conv2d"(%pool_q, %shuffle_q_select, %shuffle_q_bias) {clamp_max = 127, clamp_min = -128, {{.*}}multiplier = [1073741824], {{.*}}shift = [1], strides = [1, 1], taps_per_row = 1, tiles = [1]}
// CHECK-SAME: -> tensor<1x6x2x2x
// CHECK-NEXT: "tpu.write_host"(%shuffle_q)
// CHECK-NOT: "nn.transpose"
// CHECK-NOT: "nn.reshape"
