// RUN: -p tpu-lower
// EQUIV: exact
// Flatten of a spatial map N x C x H x W into a dense layer (AlexNet, VGG) -> one
// tpu.conv2d whose kernel covers the whole map (no padding: one output pixel), then a
// free [N, O, 1, 1] -> [N, O] tpu.reshape. The dense weights [C*H*W, O] are permuted at
// compile time to OIHW (column 0 of the dense, 22 81 CC 1D ..., is filter 0) and the
// per-column quantization axis 1 becomes the per-channel axis 0.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3xf32> {qcc.name = "fc"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>
    %0 = "nn.max_pool"(%x_q) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.018937260496850107:15>>
    %pool_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [2132261010], shift = [1]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.018937260496850107:15>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.009536228694167792:-95>>
    %flat_q = "nn.reshape"(%pool_q) {shape = [1, 8]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.009536228694167792:-95>>) -> tensor<1x8x!quant.uniform<i8:f32, 0.009536228694167792:-95>>
    %fw = "nn.constant"() {value = dense<"0x22512A815938CC392E1D0345B8F0C33A04DBB4E701E57F7F"> : tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.0034203602103736455:0, 0.003396493008756262:0, 0.002642321070348184:0}>>} : () -> tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.0034203602103736455:0, 0.003396493008756262:0, 0.002642321070348184:0}>>
    %fb = "nn.constant"() {value = dense<[30659, 30874, 39686]> : tensor<3x!quant.uniform<i32:f32:0, {3.2617337182554944e-05:0, 3.238973408964177e-05:0, 2.5197778010258502e-05:0}>>} : () -> tensor<3x!quant.uniform<i32:f32:0, {3.2617337182554944e-05:0, 3.238973408964177e-05:0, 2.5197778010258502e-05:0}>>
    %1 = "quant.dense"(%flat_q, %fw, %fb) : (tensor<1x8x!quant.uniform<i8:f32, 0.009536228694167792:-95>>, tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.0034203602103736455:0, 0.003396493008756262:0, 0.002642321070348184:0}>>, tensor<3x!quant.uniform<i32:f32:0, {3.2617337182554944e-05:0, 3.238973408964177e-05:0, 2.5197778010258502e-05:0}>>) -> tensor<1x3x!quant.uniform<i32:f32:1, {3.2617337182554944e-05:0, 3.238973408964177e-05:0, 2.5197778010258502e-05:0}>>
    %fc_q = "quant.requantize"(%1) {clamp_max = 127, clamp_min = -128, multiplier = [1563982504, 1553069067, 1208218922], shift = [-8, -8, -8]} : (tensor<1x3x!quant.uniform<i32:f32:1, {3.2617337182554944e-05:0, 3.238973408964177e-05:0, 2.5197778010258502e-05:0}>>) -> tensor<1x3x!quant.uniform<i8:f32, 0.011465326944986979:-82>>
    %fc_dq = "quant.dequantize"(%fc_q) : (tensor<1x3x!quant.uniform<i8:f32, 0.011465326944986979:-82>>) -> tensor<1x3xf32>
    return %fc_dq : tensor<1x3xf32>
  }
}
// CHECK: %pool_q = "tpu.activate"(%0)
// CHECK-NEXT: %fw_map = "nn.constant"() {value = dense<"0x2281CC1DB83AB4E551593903F004E77F2A382E45C3DB017F"> : tensor<3x2x2x2x!quant.uniform<i8<-127:127>:f32:0, {0.0034203602103736455:0, 0.003396493008756262:0, 0.002642321070348184:0}>>}
// CHECK-NEXT: %fc_q_map_bias = "nn.constant"()
// CHECK-NEXT: %fc_q_map = "tpu.conv2d"(%pool_q, %fw_map, %fc_q_map_bias)
// CHECK-SAME: k_tiles = 1
// CHECK-SAME: pads = [0, 0, 0, 0]
// CHECK-SAME: taps_per_row = 4, tiles = [1]
// CHECK-SAME: -> tensor<1x3x1x1x
// CHECK-NEXT: %fc_q = "tpu.reshape"(%fc_q_map) : (tensor<1x3x1x1x{{.*}}) -> tensor<1x3x
// CHECK-NOT: "nn.reshape"
// CHECK-NOT: "quant.dense"
// CHECK-NOT: "tpu.matmul"
