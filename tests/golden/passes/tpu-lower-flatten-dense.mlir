// RUN: -p tpu-lower
// EQUIV: exact
// Flatten of a spatial map N x C x H x W into a dense layer (AlexNet, VGG) -> one
// tpu.conv2d whose kernel covers the whole map (no padding: one output pixel), then a
// free [N, O, 1, 1] -> [N, O] tpu.reshape. The dense weights [C*H*W, O] are permuted at
// compile time to OIHW (column o of the dense = filter o: 17 A1 F2 BA ... below) and
// the per-column quantization axis 1 becomes the per-channel axis 0.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3xf32> {qcc.name = "fc"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.019663243200264725:-3>>
    %pool_q = "nn.max_pool"(%x_q) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.019663243200264725:-3>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.019663243200264725:-3>>
    %flat_q = "nn.reshape"(%pool_q) {shape = [1, 8]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.019663243200264725:-3>>) -> tensor<1x8x!quant.uniform<i8:f32, 0.019663243200264725:-3>>
    %fw = "nn.constant"() {value = dense<"0x171083A1F6A0F20E04BA565B2D8A4ABA7F937FFD81D4081C"> : tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.002400176496956292:0, 0.002307508170135378:0, 0.0032775561640581746:0}>>} : () -> tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.002400176496956292:0, 0.002307508170135378:0, 0.0032775561640581746:0}>>
    %fb = "nn.constant"() {value = dense<[71513, 74385, 52369]> : tensor<3x!quant.uniform<i32:f32:0, {4.719415e-05:0, 4.537213e-05:0, 6.444672e-05:0}>>} : () -> tensor<3x!quant.uniform<i32:f32:0, {4.719415e-05:0, 4.537213e-05:0, 6.444672e-05:0}>>
    %1 = "quant.dense"(%flat_q, %fw, %fb) : (tensor<1x8x!quant.uniform<i8:f32, 0.019663243200264725:-3>>, tensor<8x3x!quant.uniform<i8<-127:127>:f32:1, {0.002400176496956292:0, 0.002307508170135378:0, 0.0032775561640581746:0}>>, tensor<3x!quant.uniform<i32:f32:0, {4.719415e-05:0, 4.537213e-05:0, 6.444672e-05:0}>>) -> tensor<1x3x!quant.uniform<i32:f32:1, {4.719415e-05:0, 4.537213e-05:0, 6.444672e-05:0}>>
    %fc_q = "quant.requantize"(%1) {clamp_max = 127, clamp_min = -128, multiplier = [1341738898, 1289935750, 1832208840], shift = [-6, -6, -6]} : (tensor<1x3x!quant.uniform<i32:f32:1, {4.719415e-05:0, 4.537213e-05:0, 6.444672e-05:0}>>) -> tensor<1x3x!quant.uniform<i8:f32, 0.019337:-12>>
    %fc_dq = "quant.dequantize"(%fc_q) : (tensor<1x3x!quant.uniform<i8:f32, 0.019337:-12>>) -> tensor<1x3xf32>
    return %fc_dq : tensor<1x3xf32>
  }
}
// CHECK: %pool_q = "tpu.pool"(%x_q_1)
// CHECK-NEXT: %fw_map = "nn.constant"() {value = dense<"0x17A1F2BA2DBA7FD410F60E568A7FFD0883A0045B4A93811C"> : tensor<3x2x2x2x!quant.uniform<i8<-127:127>:f32:0, {0.002400176496956292:0, 0.002307508170135378:0, 0.0032775561640581746:0}>>}
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
