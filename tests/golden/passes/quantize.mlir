// RUN: -p quantize
// EQUIV: atol=0.1
// Activations: asymmetric int8 from the calibrated range, real zero exact.
// Weights: symmetric int8 in [-127, 127], one scale per output channel (axis 1 of a
// dense weight). Bias: int32 at scale s_in * s_w. A dense whose only user is a ReLU
// is not quantized at its output.
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x3xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %w = "nn.constant"() {value = dense<[[0.5, -1.0, 0.25], [1.0, 0.0, -0.5], [-0.25, 0.5, 2.0], [0.0, 0.125, -1.0]]> : tensor<4x3xf32>} : () -> tensor<4x3xf32>
    %b = "nn.constant"() {value = dense<[0.1, -0.2, 0.3]> : tensor<3xf32>} : () -> tensor<3xf32>
    %d = "nn.dense"(%sx, %w, %b) : (tensor<2x4xf32>, tensor<4x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
    %sd = "quant.stats"(%d) {max = 6.0, min = -6.0} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %r = "nn.relu"(%sd) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %sr = "quant.stats"(%r) {max = 6.0, min = 0.0} : (tensor<2x3xf32>) -> tensor<2x3xf32>
    return %sr : tensor<2x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_q = "quant.quantize"(%x) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.03137254901960784:0>>
// CHECK-NEXT: %x_dq = "quant.dequantize"(%x_q)
// CHECK-NEXT: %w = "nn.constant"() {value = dense<{{\[\[}}64, -127, 16], [127, 0, -32], [-32, 64, 127], [0, 16, -64]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.007874015748031496:0, 0.007874015748031496:0, 0.015748031496062992:0}>>}
// CHECK-NEXT: %[[W:[0-9]+]] = "quant.dequantize"(%w)
// CHECK-NEXT: %b = "nn.constant"() {value = dense<[405, -810, 607]> : tensor<3x!quant.uniform<i32:f32:0, {0.0002470279450362822:0, 0.0002470279450362822:0, 0.0004940558900725645:0}>>}
// CHECK-NEXT: %[[B:[0-9]+]] = "quant.dequantize"(%b)
// CHECK-NEXT: %d = "nn.dense"(%x_dq, %[[W]], %[[B]])
// CHECK-NEXT: %r = "nn.relu"(%d)
// CHECK-NEXT: %r_q = "quant.quantize"(%r) : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.023529411764705882:-128>>
// CHECK-NEXT: %r_dq = "quant.dequantize"(%r_q)
// CHECK-NOT: quant.stats
