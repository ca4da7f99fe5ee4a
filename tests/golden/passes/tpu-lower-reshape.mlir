// RUN: -p tpu-lower
// EQUIV: exact
// A reshape between [N, C, 1, 1] and [N, C] of a tpu result -> tpu.reshape (same rows,
// no data moves).
// GlobalAveragePool then Flatten.
module {
  func.func @main(%x: tensor<2x3x2x2xf32>) -> (tensor<2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x3x2x2xf32>) -> tensor<2x3x2x2x!quant.uniform<i8:f32, 0.016805055562187643:10>>
    %0 = "quant.global_avg_pool"(%x_q) : (tensor<2x3x2x2x!quant.uniform<i8:f32, 0.016805055562187643:10>>) -> tensor<2x3x1x1x!quant.uniform<i32:f32, 0.004201263890546911:0>>
    %g_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1166240898], shift = [0]} : (tensor<2x3x1x1x!quant.uniform<i32:f32, 0.004201263890546911:0>>) -> tensor<2x3x1x1x!quant.uniform<i8:f32, 0.007736090819040934:18>>
    %y_q = "nn.reshape"(%g_q) {shape = [2, 3]} : (tensor<2x3x1x1x!quant.uniform<i8:f32, 0.007736090819040934:18>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.007736090819040934:18>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x3x!quant.uniform<i8:f32, 0.007736090819040934:18>>) -> tensor<2x3xf32>
    return %y_dq : tensor<2x3xf32>
  }
}
// CHECK: %g_q = "tpu.pool"(%x_q_1)
// CHECK-NEXT: %y_q = "tpu.reshape"(%g_q) : (tensor<2x3x1x1x{{.*}}) -> tensor<2x3x
// CHECK-NOT: "nn.reshape"
