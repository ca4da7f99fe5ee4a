// RUN: -p fold-mul-add
// Mul / Add of an activation by per-channel (or scalar) constants: folded into the
// conv2d / dense before it (w * s, b * s + t), else a depthwise 1x1 convolution that
// the Add then folds into (a batch norm exported as Mul + Add: one layer).
// After a convolution: one conv with scaled weights and bias.
module {
  func.func @main(%x: tensor<1x2x3x3xf32>) -> (tensor<1x2x3x3xf32>) {
    %conv_w = "nn.constant"() {value = dense<[[[[0.13368092]], [[-0.36963898]]], [[[-0.29208004]], [[-1.7263781]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
    %conv_b = "nn.constant"() {value = dense<[0.17997074, 0.114416584]> : tensor<2xf32>} : () -> tensor<2xf32>
    %conv = "nn.conv2d"(%x, %conv_w, %conv_b) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x3x3xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
    %bn_s = "nn.constant"() {value = dense<[[[1.0939505]], [[1.0275733]]]> : tensor<2x1x1xf32>} : () -> tensor<2x1x1xf32>
    %bn_mul = "nn.mul"(%conv, %bn_s) : (tensor<1x2x3x3xf32>, tensor<2x1x1xf32>) -> tensor<1x2x3x3xf32>
    %bn_t = "nn.constant"() {value = dense<[[[0.0843632]], [[-0.16614684]]]> : tensor<2x1x1xf32>} : () -> tensor<2x1x1xf32>
    %bn_add = "nn.add"(%bn_t, %bn_mul) : (tensor<2x1x1xf32>, tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    return %bn_add : tensor<1x2x3x3xf32>
  }
}
// CHECK: %conv_w = "nn.constant"() {value = dense<[{{\[\[\[}}0.14624031]], [[-0.40436676]]], [[[-0.30013368]], [[-1.7739801]]]]>
// CHECK-NEXT: %0 = "nn.constant"() {value = dense<[0.28124228, -0.04857541]>
// CHECK-NEXT: %bn_add = "nn.conv2d"(%x, %conv_w, %0) {{.*}}group = 1
// CHECK-NOT: "nn.mul"
// CHECK-NOT: "nn.add"

// -----
// After a ReLU (nothing to fold into): a depthwise 1x1 convolution, weight s, bias t.
module {
  func.func @main(%x: tensor<1x2x3x3xf32>) -> (tensor<1x2x3x3xf32>) {
    %relu = "nn.relu"(%x) : (tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    %bn_s = "nn.constant"() {value = dense<[[[[1.1308061]], [[1.1492456]]]]> : tensor<1x2x1x1xf32>} : () -> tensor<1x2x1x1xf32>
    %bn_mul = "nn.mul"(%relu, %bn_s) : (tensor<1x2x3x3xf32>, tensor<1x2x1x1xf32>) -> tensor<1x2x3x3xf32>
    %bn_t = "nn.constant"() {value = dense<[[[[-0.12391906]], [[-0.73244023]]]]> : tensor<1x2x1x1xf32>} : () -> tensor<1x2x1x1xf32>
    %bn_add = "nn.add"(%bn_t, %bn_mul) : (tensor<1x2x1x1xf32>, tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32>
    return %bn_add : tensor<1x2x3x3xf32>
  }
}
// CHECK: %bn_mul_w = "nn.constant"() {value = dense<[{{\[\[\[}}1.1308061]]], [[[1.1492456]]]]> : tensor<2x1x1x1xf32>}
// CHECK-NEXT: %0 = "nn.constant"() {value = dense<[-0.12391906, -0.73244023]>
// CHECK-NEXT: %bn_add = "nn.conv2d"(%relu, %bn_mul_w, %0) {{.*}}group = 2
// CHECK-NOT: "nn.mul"
// CHECK-NOT: "nn.add"
