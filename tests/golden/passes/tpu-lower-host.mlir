// RUN: -p tpu-lower
// EQUIV: exact
// Host partitioning: an op no pattern takes (here a softmax between two dense layers)
// runs on the host. It and the (de)quantize ops around it get a host_reason; the
// value the TPU produced is written to host memory before them (tpu.write_host) and
// their result is read back into the Unified Buffer for the next layer (tpu.read_host).
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x2xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.016805055562187643:10>>
    %w1 = "nn.constant"() {value = dense<[[78, -127, 61], [-22, -22, -32], [-77, -12, -127], [127, 11, -52]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.026165350215641533:0, 0.020123346584049736:0, 0.006812701544423741:0}>>} : () -> tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.026165350215641533:0, 0.020123346584049736:0, 0.006812701544423741:0}>>
    %0 = "quant.dense"(%x_q, %w1) : (tensor<2x4x!quant.uniform<i8:f32, 0.016805055562187643:10>>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.026165350215641533:0, 0.020123346584049736:0, 0.006812701544423741:0}>>) -> tensor<2x3x!quant.uniform<i32:f32:1, {0.0004397101641779544:0, 0.00033817395744211473:0, 0.00011448782798264253:0}>>
    %h_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1314884736, 2022513060, 1369432047], shift = [-6, -7, -8]} : (tensor<2x3x!quant.uniform<i32:f32:1, {0.0004397101641779544:0, 0.00033817395744211473:0, 0.00011448782798264253:0}>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.04596091438742245:-7>>
    %h_dq = "quant.dequantize"(%h_q) : (tensor<2x3x!quant.uniform<i8:f32, 0.04596091438742245:-7>>) -> tensor<2x3xf32>
    %s = "nn.softmax"(%h_dq) {axis = 1} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %s_q = "quant.quantize"(%s) : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.003909080870011274:-128>>
    %w2 = "nn.constant"() {value = dense<[[-34, -127], [-127, -74], [58, -45]]> : tensor<3x2x!quant.uniform<i8<-127:127>:f32:1, {0.008308271723469412:0, 0.005260207521633839:0}>>} : () -> tensor<3x2x!quant.uniform<i8<-127:127>:f32:1, {0.008308271723469412:0, 0.005260207521633839:0}>>
    %1 = "quant.dense"(%s_q, %w2) : (tensor<2x3x!quant.uniform<i8:f32, 0.003909080870011274:-128>>, tensor<3x2x!quant.uniform<i8<-127:127>:f32:1, {0.008308271723469412:0, 0.005260207521633839:0}>>) -> tensor<2x2x!quant.uniform<i32:f32:1, {3.2477706057069874e-05:0, 2.0562576595108252e-05:0}>>
    %y_q = "quant.requantize"(%1) {clamp_max = 127, clamp_min = -128, multiplier = [1553431346, 1967044777], shift = [-7, -8]} : (tensor<2x2x!quant.uniform<i32:f32:1, {3.2477706057069874e-05:0, 2.0562576595108252e-05:0}>>) -> tensor<2x2x!quant.uniform<i8:f32, 0.005746893088022868:55>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x2x!quant.uniform<i8:f32, 0.005746893088022868:55>>) -> tensor<2x2xf32>
    return %y_dq : tensor<2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %h_q = "tpu.matmul"(%x_q_1,
// CHECK-NEXT: %h_q_1 = "tpu.write_host"(%h_q) {tensor = "h_q"}
// CHECK-NEXT: %h_dq = "quant.dequantize"(%h_q_1) {host_reason = "dequantizes the input of nn.softmax"}
// CHECK-NEXT: %s = "nn.softmax"(%h_dq) {axis = 1, host_reason = "'nn.softmax' has no integer form: it computes in float"}
// CHECK-NEXT: %s_q = "quant.quantize"(%s) {host_reason = "quantizes a float result for the TPU or the output"}
// CHECK-NEXT: %s_q_1 = "tpu.read_host"(%s_q) {tensor = "s_q"}
// CHECK: %y_q = "tpu.matmul"(%s_q_1,
// CHECK-NEXT: %y_q_1 = "tpu.write_host"(%y_q) {tensor = "y"}
// CHECK-NEXT: %y_dq = "quant.dequantize"(%y_q_1)
// CHECK-NEXT: return %y_dq
