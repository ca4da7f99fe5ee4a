// RUN: -p constant-fold
module {
  func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>) {
    %w = "nn.constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32>
    %wt = "nn.transpose"(%w) {perm = [1, 0]} : (tensor<3x2xf32>) -> tensor<2x3xf32>
    %two = "nn.constant"() {value = dense<2.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
    %scaled = "nn.mul"(%wt, %two) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    %y = "nn.add"(%x, %scaled) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    return %y : tensor<2x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %scaled = "nn.constant"() {value = dense<{{\[\[}}2.0, 6.0, 10.0], [4.0, 8.0, 12.0]]> : tensor<2x3xf32>}
// CHECK-NEXT: %y = "nn.add"(%x, %scaled)
// CHECK-NEXT: return %y

// -----

// Equal constants are merged into the first.
module {
  func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    %a = "nn.constant"() {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : () -> tensor<4xf32>
    %b = "nn.constant"() {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : () -> tensor<4xf32>
    %y = "nn.add"(%x, %a) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    %z = "nn.mul"(%y, %b) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %z : tensor<4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %a = "nn.constant"
// CHECK-NOT: "nn.constant"
// CHECK: %y = "nn.add"(%x, %a)
// CHECK-NEXT: %z = "nn.mul"(%y, %a)

// -----

// Nothing to fold when an operand is not constant; max-elements bounds folding.
module {
  func.func @main(%x: tensor<2xf32>) -> (tensor<2xf32>) {
    %c = "nn.constant"() {value = dense<[1.0, -1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %r = "nn.relu"(%c) : (tensor<2xf32>) -> tensor<2xf32>
    %y = "nn.add"(%x, %r) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    return %y : tensor<2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %r = "nn.constant"() {value = dense<[1.0, 0.0]> : tensor<2xf32>}
// CHECK-NEXT: %y = "nn.add"(%x, %r)
