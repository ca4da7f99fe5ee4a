// RUN: -p fold-batchnorm
// conv + batch_norm: w' = w * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps)
module {
  func.func @main(%x: tensor<1x1x3x3xf32>) -> (tensor<1x2x3x3xf32>) {
    %w = "nn.constant"() {value = dense<[[[[1.0]]], [[[2.0]]]]> : tensor<2x1x1x1xf32>} : () -> tensor<2x1x1x1xf32>
    %b = "nn.constant"() {value = dense<[1.0, 0.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %c = "nn.conv2d"(%x, %w, %b) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x1x3x3xf32>, tensor<2x1x1x1xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
    %gamma = "nn.constant"() {value = dense<[2.0, 4.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %beta = "nn.constant"() {value = dense<[0.5, -1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %mean = "nn.constant"() {value = dense<[3.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %var = "nn.constant"() {value = dense<[4.0, 16.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %y = "nn.batch_norm"(%c, %gamma, %beta, %mean, %var) {epsilon = 0.0} : (tensor<1x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
    return %y : tensor<1x2x3x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %w = "nn.constant"() {value = dense<{{\[\[\[\[}}1.0]]], {{\[\[\[}}2.0]]]]> : tensor<2x1x1x1xf32>}
// CHECK-NEXT: %[[B:[0-9]+]] = "nn.constant"() {value = dense<[-1.5, -2.0]> : tensor<2xf32>}
// CHECK-NEXT: %y = "nn.conv2d"(%x, %w, %[[B]])
// CHECK-NOT: nn.batch_norm
// CHECK: return %y

// -----

// dense + batch_norm on a 2-D output folds too.
module {
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
    %w = "nn.constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
    %d = "nn.dense"(%x, %w) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %gamma = "nn.constant"() {value = dense<[1.0, 0.5]> : tensor<2xf32>} : () -> tensor<2xf32>
    %beta = "nn.constant"() {value = dense<[0.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %mean = "nn.constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %var = "nn.constant"() {value = dense<[1.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %y = "nn.batch_norm"(%d, %gamma, %beta, %mean, %var) {epsilon = 0.0} : (tensor<2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
    return %y : tensor<2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: "nn.constant"() {value = dense<{{\[\[}}1.0, 1.0], [3.0, 2.0]]> : tensor<2x2xf32>}
// CHECK-NEXT: "nn.constant"() {value = dense<[-1.0, 0.0]> : tensor<2xf32>}
// CHECK-NEXT: %y = "nn.dense"
// CHECK-NOT: nn.batch_norm

// -----

// Not folded: the conv result has another user.
module {
  func.func @main(%x: tensor<1x1x2x2xf32>) -> (tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>) {
    %w = "nn.constant"() {value = dense<2.0> : tensor<1x1x1x1xf32>} : () -> tensor<1x1x1x1xf32>
    %c = "nn.conv2d"(%x, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x1x2x2xf32>, tensor<1x1x1x1xf32>) -> tensor<1x1x2x2xf32>
    %p = "nn.constant"() {value = dense<1.0> : tensor<1xf32>} : () -> tensor<1xf32>
    %y = "nn.batch_norm"(%c, %p, %p, %p, %p) {epsilon = 1e-05} : (tensor<1x1x2x2xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>, tensor<1xf32>) -> tensor<1x1x2x2xf32>
    return %y, %c : tensor<1x1x2x2xf32>, tensor<1x1x2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %c = "nn.conv2d"
// CHECK: %y = "nn.batch_norm"(%c
