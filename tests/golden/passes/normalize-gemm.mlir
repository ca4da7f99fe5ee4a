// RUN: -p normalize-gemm
// Gemm with transB, alpha, beta and a 1-D bias: one dense with folded constants.
module {
  func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x2xf32>) {
    %w = "nn.constant"() {value = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
    %b = "nn.constant"() {value = dense<[1.0, -1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %y = "nn.gemm"(%x, %w, %b) {alpha = 2.0, beta = 0.5, trans_a = false, trans_b = true} : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2xf32>) -> tensor<2x2xf32>
    return %y : tensor<2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: "nn.constant"() {value = dense<{{\[\[}}2.0, 8.0], [4.0, 10.0], [6.0, 12.0]]> : tensor<3x2xf32>}
// CHECK: "nn.constant"() {value = dense<[0.5, -0.5]> : tensor<2xf32>}
// CHECK: %y = "nn.dense"(%x, %{{[0-9]+}}, %{{[0-9]+}}) : (tensor<2x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
// CHECK-NOT: nn.gemm

// -----

// transA on a graph input stays a transpose; a full [M, N] c becomes an add.
module {
  func.func @main(%a: tensor<3x2xf32>, %c: tensor<2x4xf32>) -> (tensor<2x4xf32>) {
    %w = "nn.constant"() {value = dense<1.0> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
    %y = "nn.gemm"(%a, %w, %c) {alpha = 1.0, beta = 1.0, trans_a = true, trans_b = false} : (tensor<3x2xf32>, tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %[[T:[0-9]+]] = "nn.transpose"(%a) {perm = [1, 0]}
// CHECK: %[[D:[0-9]+]] = "nn.dense"(%[[T]], %w)
// CHECK-NEXT: %y = "nn.add"(%[[D]], %c)

// -----

// MatMul with a 2-D weight and a following bias add: one dense with a bias.
module {
  func.func @main(%x: tensor<2x5x3xf32>) -> (tensor<2x5x2xf32>) {
    %w = "nn.constant"() {value = dense<0.5> : tensor<3x2xf32>} : () -> tensor<3x2xf32>
    %b = "nn.constant"() {value = dense<[[1.0, 2.0]]> : tensor<1x2xf32>} : () -> tensor<1x2xf32>
    %m = "nn.matmul"(%x, %w) : (tensor<2x5x3xf32>, tensor<3x2xf32>) -> tensor<2x5x2xf32>
    %y = "nn.add"(%m, %b) : (tensor<2x5x2xf32>, tensor<1x2xf32>) -> tensor<2x5x2xf32>
    return %y : tensor<2x5x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: "nn.constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>}
// CHECK: %y = "nn.dense"(%x, %w, %{{[0-9a-z_]+}}) : (tensor<2x5x3xf32>, tensor<3x2xf32>, tensor<2xf32>) -> tensor<2x5x2xf32>
// CHECK-NOT: nn.matmul
// CHECK-NOT: nn.add

// -----

// A batched matmul of two activations stays a matmul.
module {
  func.func @main(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>) -> (tensor<2x3x5xf32>) {
    %y = "nn.matmul"(%a, %b) : (tensor<2x3x4xf32>, tensor<2x4x5xf32>) -> tensor<2x3x5xf32>
    return %y : tensor<2x3x5xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %y = "nn.matmul"(%a, %b)
