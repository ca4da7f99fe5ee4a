// RUN: -p tpu-lower
// EQUIV: exact
// Program inputs and outputs: the host quantizes an input (and writes it in a reshaped
// layout when a reshape follows the quantize), tpu.read_host moves it into the Unified
// Buffer; outputs leave by tpu.write_host, in output order, and the host dequantizes
// them after all transfers.
// One input flattened by the host, two outputs.
module {
  func.func @main(%x: tensor<2x1x2x2xf32>) -> (tensor<2x2xf32> {qcc.name = "y"}, tensor<2x3xf32> {qcc.name = "z"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x1x2x2xf32>) -> tensor<2x1x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %f_q = "nn.reshape"(%x_q) {shape = [2, 4]} : (tensor<2x1x2x2x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %w = "nn.constant"() {value = dense<[[-127, 45], [74, 48], [-55, 11], [5, 127]]> : tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.0023794704534876067:0, 0.0032772144933385173:0}>>} : () -> tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.0023794704534876067:0, 0.0032772144933385173:0}>>
    %0 = "quant.dense"(%f_q, %w) : (tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>, tensor<4x2x!quant.uniform<i8<-127:127>:f32:1, {0.0023794704534876067:0, 0.0032772144933385173:0}>>) -> tensor<2x2x!quant.uniform<i32:f32:1, {3.444628016106431e-05:0, 4.7442425023592314e-05:0}>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1560703501, 1074768575], shift = [-7, -6]} : (tensor<2x2x!quant.uniform<i32:f32:1, {3.444628016106431e-05:0, 4.7442425023592314e-05:0}>>) -> tensor<2x2x!quant.uniform<i8:f32, 0.0060668290830125995:-8>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x2x!quant.uniform<i8:f32, 0.0060668290830125995:-8>>) -> tensor<2x2xf32>
    %w2 = "nn.constant"() {value = dense<[[-45, -30, -12], [-5, -64, -41], [65, -54, 72], [127, 127, -127]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.004974540763013945:0, 0.003187202327833401:0, 0.004105381139620083:0}>>} : () -> tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.004974540763013945:0, 0.003187202327833401:0, 0.004105381139620083:0}>>
    %1 = "quant.dense"(%f_q, %w2) : (tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.004974540763013945:0, 0.003187202327833401:0, 0.004105381139620083:0}>>) -> tensor<2x3x!quant.uniform<i32:f32:1, {7.201368041542923e-05:0, 4.6139368595071105e-05:0, 5.943133636983377e-05:0}>>
    %z_q = "quant.requantize"(%1) {clamp_max = 127, clamp_min = -128, multiplier = [1452575072, 1861337909, 1198778860], shift = [-6, -7, -6]} : (tensor<2x3x!quant.uniform<i32:f32:1, {7.201368041542923e-05:0, 4.6139368595071105e-05:0, 5.943133636983377e-05:0}>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.006813751015008664:-39>>
    %z_dq = "quant.dequantize"(%z_q) : (tensor<2x3x!quant.uniform<i8:f32, 0.006813751015008664:-39>>) -> tensor<2x3xf32>
    return %y_dq, %z_dq : tensor<2x2xf32>, tensor<2x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_q = "quant.quantize"(%x)
// CHECK-NEXT: %f_q = "nn.reshape"(%x_q) {shape = [2, 4]}
// CHECK-NEXT: %f_q_1 = "tpu.read_host"(%f_q) {tensor = "x"}
// CHECK: %y_q = "tpu.matmul"(%f_q_1,
// CHECK: %z_q = "tpu.matmul"(%f_q_1,
// CHECK-NEXT: %y_q_1 = "tpu.write_host"(%y_q) {tensor = "y"}
// CHECK-NEXT: %z_q_1 = "tpu.write_host"(%z_q) {tensor = "z"}
// CHECK-NEXT: %y_dq = "quant.dequantize"(%y_q_1)
// CHECK-NEXT: %z_dq = "quant.dequantize"(%z_q_1)
// CHECK-NEXT: return %y_dq, %z_dq
