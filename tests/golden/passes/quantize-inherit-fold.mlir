// RUN: -p quantize,fold-rescale,fuse-relu
// EQUIV: atol=0.1
// The integer program of inherited types (quantize-inherit.mlir): the max pool and
// the flatten run on the ReLU's codes, with no requantize after them.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %w = "nn.constant"() {value = dense<[[[[1.0]], [[-0.5]]], [[[0.5]], [[1.0]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
    %c = "nn.conv2d"(%sx, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
    %sc = "quant.stats"(%c) {max = 6.0, min = -6.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %r = "nn.relu"(%sc) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %sr = "quant.stats"(%r) {max = 6.0, min = 0.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %p = "nn.max_pool"(%sr) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
    %sp = "quant.stats"(%p) {max = 4.8, min = 0.4} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %f = "nn.reshape"(%sp) {shape = [1, 8]} : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
    %sf = "quant.stats"(%f) {max = 4.4, min = 0.8} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %w2 = "nn.constant"() {value = dense<0.25> : tensor<8x3xf32>} : () -> tensor<8x3xf32>
    %d = "nn.dense"(%sf, %w2) : (tensor<1x8xf32>, tensor<8x3xf32>) -> tensor<1x3xf32>
    %sd = "quant.stats"(%d) {max = 12.0, min = 0.0} : (tensor<1x3xf32>) -> tensor<1x3xf32>
    return %sd : tensor<1x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %r_q = "quant.requantize"
// CHECK-NEXT: %p_q = "nn.max_pool"(%r_q) {{.*}} -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.023529411764705882:-128>>
// CHECK-NEXT: %f_q = "nn.reshape"(%p_q) {{.*}} -> tensor<1x8x!quant.uniform<i8:f32, 0.023529411764705882:-128>>
// CHECK: "quant.dense"(%f_q,

// -----

// Concat: the convs read only by the first concat write its codes (their requantize
// goes straight to the concat's type) and the concat takes them as they are; the
// second concat requantizes only the max pool's and %x's codes (their own type).
module {
  func.func @main(%x: tensor<1x2x2x2xf32>, %y: tensor<1x2x2x2xf32>) -> (tensor<1x4x2x2xf32>, tensor<1x6x2x2xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %sy = "quant.stats"(%y) {max = 6.0, min = -4.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %w = "nn.constant"() {value = dense<[[[[1.0]], [[-0.5]]], [[[0.5]], [[1.0]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
    %c1 = "nn.conv2d"(%sx, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc1 = "quant.stats"(%c1) {max = 6.0, min = -6.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %c2 = "nn.conv2d"(%sy, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc2 = "quant.stats"(%c2) {max = 9.0, min = -6.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %a = "nn.concat"(%sc1, %sc2) {axis = 1} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x4x2x2xf32>
    %sa = "quant.stats"(%a) {max = 9.0, min = -6.0} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
    %p = "nn.max_pool"(%sx) {ceil_mode = false, dilations = [1, 1], kernel = [1, 1], pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %sp = "quant.stats"(%p) {max = 3.6, min = -3.2} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %c3 = "nn.conv2d"(%sy, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc3 = "quant.stats"(%c3) {max = 8.0, min = -9.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %b = "nn.concat"(%sc3, %sp, %sx) {axis = 1} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x6x2x2xf32>
    %sb = "quant.stats"(%b) {max = 9.5, min = -9.0} : (tensor<1x6x2x2xf32>) -> tensor<1x6x2x2xf32>
    return %sa, %sb : tensor<1x4x2x2xf32>, tensor<1x6x2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %c1_q = "quant.requantize"({{.*}} -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.058823529411764705:-26>>
// CHECK: %c2_q = "quant.requantize"({{.*}} -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.058823529411764705:-26>>
// CHECK-NEXT: %a_q = "nn.concat"(%c1_q, %c2_q) {axis = 1}
// CHECK-NEXT: %a_dq = "quant.dequantize"(%a_q)
// CHECK-NEXT: %p_q = "nn.max_pool"(%x_q)
// CHECK: %c3_q = "quant.requantize"
// CHECK-NEXT: %[[RP:[0-9]+]] = "quant.requantize"(%p_q)
// CHECK-NEXT: %[[RX:[0-9]+]] = "quant.requantize"(%x_q)
// CHECK-NEXT: %b_q = "nn.concat"(%c3_q, %[[RP]], %[[RX]]) {axis = 1}
