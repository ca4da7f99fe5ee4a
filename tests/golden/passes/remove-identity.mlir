// RUN: -p remove-identity
module {
  func.func @main(%x: tensor<1x8xf32>) -> (tensor<1x8xf32>) {
    %a = "nn.identity"(%x) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %b = "nn.dropout"(%a) {ratio = 0.25} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %c = "nn.relu"(%b) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %d = "nn.identity"(%c) : (tensor<1x8xf32>) -> tensor<1x8xf32>
    return %d : tensor<1x8xf32>
  }
}
// CHECK-LABEL: func.func @main(%x: tensor<1x8xf32>) -> (tensor<1x8xf32> {qcc.name = "d"})
// CHECK-NOT: nn.identity
// CHECK-NOT: nn.dropout
// CHECK: %c = "nn.relu"(%x)
// CHECK-NEXT: return %c : tensor<1x8xf32>
