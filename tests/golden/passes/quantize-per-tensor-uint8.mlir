// RUN: -p "quantize{granularity=per-tensor activations=uint8}"
// EQUIV: atol=0.1
// One weight scale per tensor and uint8 activations (zero point 128 for a symmetric
// range). The second channel's bias (1.0) does not fit int32 at s_in * s_w
// (s_w = 1e-9 / 127): the weight scale is raised until it does.
module {
  func.func @main(%x: tensor<1x1x3x3xf32>) -> (tensor<1x2x3x3xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
    %w = "nn.constant"() {value = dense<[[[[1e-09]]], [[[-5e-10]]]]> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
    %b = "nn.constant"() {value = dense<[0.5, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %c = "nn.conv2d"(%sx, %w, %b) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x1x3x3xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
    %sc = "quant.stats"(%c) {max = 2.0, min = -2.0} : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    return %sc : tensor<1x2x3x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_q = "quant.quantize"(%x) : (tensor<1x1x3x3xf32>) -> tensor<1x1x3x3x!quant.uniform<u8:f32, 0.03137254901960784:128>>
// The raised scale (1.0 / (s_in * (2^31 - 1)), plus a margin) makes the tiny weights 0.
// CHECK: %w = "nn.constant"() {value = dense<0> : tensor<2x1x1x1x!quant.uniform<i8<-127:127>:f32, 1.4842968382799516e-08:0>>}
// CHECK: %b = "nn.constant"() {value = dense<[1073740750, 2147481500]> : tensor<2x!quant.uniform<i32:f32, 4.656617531858672e-10:0>>}
// CHECK: %c = "nn.conv2d"
// CHECK-NEXT: %c_q = "quant.quantize"(%c) : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3x!quant.uniform<u8:f32, 0.01568627450980392:128>>
