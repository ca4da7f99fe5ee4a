// RUN: -p tpu-lower
// EQUIV: exact
// nn.concat of int8 tensors -> tpu.concat (copies through the activation unit): along
// channels into a lane offset, along the batch into later rows.
// Channels (the pooled input is first requantized back to x's scale) and batch.
module {
  func.func @main(%x: tensor<1x2x2x2xf32>) -> (tensor<1x4x2x2xf32> {qcc.name = "y"}, tensor<2x2x2x2xf32> {qcc.name = "z"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %0 = "nn.max_pool"(%x_q) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 1, 1], strides = [1, 1]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %p_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1888623228], shift = [1]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>
    %1 = "quant.requantize"(%p_q) {clamp_max = 127, clamp_min = -128, multiplier = [1220912130], shift = [0]} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %y_q = "nn.concat"(%x_q, %1) {axis = 1} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<1x4x2x2xf32>
    %z_q = "nn.concat"(%p_q, %p_q) {axis = 0} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>) -> tensor<2x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>
    %z_dq = "quant.dequantize"(%z_q) : (tensor<2x2x2x2x!quant.uniform<i8:f32, 0.008230316872690237:-39>>) -> tensor<2x2x2x2xf32>
    return %y_dq, %z_dq : tensor<1x4x2x2xf32>, tensor<2x2x2x2xf32>
  }
}
// CHECK: %y_q = "tpu.concat"(%x_q_1, %1) {axis = 1}
// CHECK-SAME: -> tensor<1x4x2x2x
// CHECK-NEXT: %z_q = "tpu.concat"(%p_q, %p_q) {axis = 0}
// CHECK-SAME: -> tensor<2x2x2x2x
// CHECK-NOT: "nn.concat"
