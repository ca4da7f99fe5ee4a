// RUN: -p fuse-relu
// EQUIV: exact
// Clip and ReLU between a requantize (or quant.add) and a quantize of the same type
// become the clamp bounds: the codes of the clip bounds, and the zero point for ReLU.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>, %y: tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:0>>
    %y_q = "quant.quantize"(%y) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.01568627450980392:0>>
    %w = "nn.constant"() {value = dense<[[[[127]], [[-64]]], [[[127]], [[64]]]]> : tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>} : () -> tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>
    %0 = "quant.conv2d"(%x_q, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:0>>, tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>) -> tensor<1x2x4x4x!quant.uniform<i32:f32:1, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>
    %1 = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1082196484, 1082196484], shift = [-7, -6]} : (tensor<1x2x4x4x!quant.uniform<i32:f32:1, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-43>>
    %2 = "quant.dequantize"(%1) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-43>>) -> tensor<1x2x4x4xf32>
    %r = "nn.clip"(%2) {max = 2.5, min = -1.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %r_q = "quant.quantize"(%r) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-43>>
    %sr = "quant.dequantize"(%r_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-43>>) -> tensor<1x2x4x4xf32>
    %3 = "quant.add"(%x_q, %y_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 1431655765, 1073741824], shift = [0, -1, -18]} : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:0>>, tensor<1x2x4x4x!quant.uniform<i8:f32, 0.01568627450980392:0>>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-86>>
    %4 = "quant.dequantize"(%3) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-86>>) -> tensor<1x2x4x4xf32>
    %ra = "nn.relu"(%4) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %ra_q = "quant.quantize"(%ra) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-86>>
    %sra = "quant.dequantize"(%ra_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-86>>) -> tensor<1x2x4x4xf32>
    return %sr, %sra : tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %r_q = "quant.requantize"(%0) {clamp_max = 63, clamp_min = -85, multiplier = [1082196484, 1082196484], shift = [-7, -6]}
// CHECK-NEXT: %sr = "quant.dequantize"(%r_q)
// CHECK-NEXT: %ra_q = "quant.add"(%x_q, %y_q) {clamp_max = 127, clamp_min = -86,
// CHECK-NEXT: %sra = "quant.dequantize"(%ra_q)
// CHECK-NOT: nn.relu
// CHECK-NOT: nn.clip

// -----

// Not fused: the quantize after the ReLU has another type than the requantize.
module {
  func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    %q = "quant.quantize"(%x) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.05:0>>
    %r = "quant.requantize"(%q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824], shift = [0]} : (tensor<4x!quant.uniform<i8:f32, 0.05:0>>) -> tensor<4x!quant.uniform<i8:f32, 0.1:0>>
    %d = "quant.dequantize"(%r) : (tensor<4x!quant.uniform<i8:f32, 0.1:0>>) -> tensor<4xf32>
    %a = "nn.relu"(%d) : (tensor<4xf32>) -> tensor<4xf32>
    %q2 = "quant.quantize"(%a) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.05:-128>>
    %y = "quant.dequantize"(%q2) : (tensor<4x!quant.uniform<i8:f32, 0.05:-128>>) -> tensor<4xf32>
    return %y : tensor<4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %r = "quant.requantize"(%q) {clamp_max = 127, clamp_min = -128
// CHECK: %a = "nn.relu"(%d)
// CHECK: %q2 = "quant.quantize"(%a)

// -----

// After an op with no clamp to fold into (a concat; ShuffleNet's relu(concat)): one
// quant.requantize with the ReLU's bounds (here the result's zero point, -128, is
// already the lowest code), which the TPU runs as an activate.
module {
  func.func @main(%x: tensor<1x2x2x2xf32>) -> (tensor<1x4x2x2xf32> {qcc.name = "relu"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.01018518045836804:0>>
    %cat_q = "nn.concat"(%x_q, %x_q) {axis = 1} : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.01018518045836804:0>>, tensor<1x2x2x2x!quant.uniform<i8:f32, 0.01018518045836804:0>>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01018518045836804:0>>
    %cat_dq = "quant.dequantize"(%cat_q) : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01018518045836804:0>>) -> tensor<1x4x2x2xf32>
    %relu = "nn.relu"(%cat_dq) : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
    %relu_q = "quant.quantize"(%relu) : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.005074760025622798:-128>>
    %relu_dq = "quant.dequantize"(%relu_q) : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.005074760025622798:-128>>) -> tensor<1x4x2x2xf32>
    return %relu_dq : tensor<1x4x2x2xf32>
  }
}
// CHECK: %cat_q = "nn.concat"(%x_q, %x_q)
// CHECK-NEXT: %relu_q = "quant.requantize"(%cat_q) {clamp_max = 127, clamp_min = -128, multiplier = [1077514423], shift = [2]}
// CHECK-NOT: "nn.relu"
