// RUN: -p tpu-lower
// EQUIV: exact
// A channel concat whose input would straddle two 256-channel blocks of the result
// (SqueezeNet, Inception): the straddling input is split by two channel copies on the
// matrix unit (1x1 tpu.conv2d, 0/1 selection weights, identity requantization: x - zx,
// times 2^30 * 2^(1-31) = 1, + zx) into the 56 channels up to the block boundary and
// the 144 after it; tpu.concat then places every piece inside one block.
module {
  func.func @main(%x: tensor<1x200x1x1xf32>) -> (tensor<1x400x1x1xf32> {qcc.name = "cat"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x200x1x1xf32>) -> tensor<1x200x1x1x!quant.uniform<i8:f32, 0.024236157361198874:-1>>
    %cat_q = "nn.concat"(%x_q, %x_q) {axis = 1} : (tensor<1x200x1x1x!quant.uniform<i8:f32, 0.024236157361198874:-1>>, tensor<1x200x1x1x!quant.uniform<i8:f32, 0.024236157361198874:-1>>) -> tensor<1x400x1x1x!quant.uniform<i8:f32, 0.024236157361198874:-1>>
    %cat_dq = "quant.dequantize"(%cat_q) : (tensor<1x400x1x1x!quant.uniform<i8:f32, 0.024236157361198874:-1>>) -> tensor<1x400x1x1xf32>
    return %cat_dq : tensor<1x400x1x1xf32>
  }
}
// CHECK: %cat_q_in1_head_select = "nn.constant"() {{.*}} : tensor<56x200x1x1x!quant.uniform<i8<-127:127>:f32, 1.0:0>>
// CHECK: %cat_q_in1_head_bias = "nn.constant"() {value = dense<1> : tensor<56xi32>}
// CHECK-NEXT: %cat_q_in1_head = "tpu.conv2d"(%x_q_1, %cat_q_in1_head_select, %cat_q_in1_head_bias) {clamp_max = 127, clamp_min = -128, {{.*}}multiplier = [1073741824], n_tiles = 1, {{.*}}shift = [1]
// CHECK-SAME: -> tensor<1x56x1x1x
// CHECK: %cat_q_in1_tail_select = "nn.constant"() {{.*}} : tensor<144x200x1x1x
// CHECK: %cat_q_in1_tail = "tpu.conv2d"(%x_q_1, %cat_q_in1_tail_select, %cat_q_in1_tail_bias)
// CHECK-SAME: -> tensor<1x144x1x1x
// CHECK-NEXT: %cat_q = "tpu.concat"(%x_q_1, %cat_q_in1_head, %cat_q_in1_tail) {axis = 1}
// CHECK-SAME: -> tensor<1x400x1x1x
// CHECK-NOT: "nn.concat"
