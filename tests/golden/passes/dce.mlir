// RUN: -p dce
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>) {
    %dead = "nn.relu"(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %dead2 = "nn.tanh"(%dead) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %y = "nn.sigmoid"(%x) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    return %y : tensor<2x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NOT: nn.relu
// CHECK-NOT: nn.tanh
// CHECK: %y = "nn.sigmoid"(%x)
// CHECK-NEXT: return %y

// -----

// An unused constant goes too; a value returned twice stays.
module {
  func.func @main(%x: tensor<3xf32>) -> (tensor<3xf32> {qcc.name = "a"}, tensor<3xf32> {qcc.name = "b"}) {
    %c = "nn.constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf32>} : () -> tensor<3xf32>
    %y = "nn.relu"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    return %y, %y : tensor<3xf32>, tensor<3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NOT: nn.constant
// CHECK: %y = "nn.relu"(%x)
// CHECK-NEXT: return %y, %y
