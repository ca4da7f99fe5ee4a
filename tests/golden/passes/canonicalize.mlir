// RUN: -p canonicalize
// Reshape and transpose chains collapse; identities and neutral arithmetic go.
module {
  func.func @main(%x: tensor<2x3x4xf32>) -> (tensor<4x3x2xf32>, tensor<24xf32>) {
    %i = "nn.identity"(%x) : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %t1 = "nn.transpose"(%i) {perm = [1, 0, 2]} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
    %t2 = "nn.transpose"(%t1) {perm = [2, 0, 1]} : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
    %zero = "nn.constant"() {value = dense<0.0> : tensor<1xf32>} : () -> tensor<1xf32>
    %a = "nn.add"(%t2, %zero) : (tensor<4x3x2xf32>, tensor<1xf32>) -> tensor<4x3x2xf32>
    %r1 = "nn.reshape"(%x) {shape = [6, 4]} : (tensor<2x3x4xf32>) -> tensor<6x4xf32>
    %r2 = "nn.reshape"(%r1) {shape = [24]} : (tensor<6x4xf32>) -> tensor<24xf32>
    %r3 = "nn.reshape"(%r2) {shape = [24]} : (tensor<24xf32>) -> tensor<24xf32>
    return %a, %r3 : tensor<4x3x2xf32>, tensor<24xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %t2 = "nn.transpose"(%x) {perm = [2, 1, 0]}
// CHECK-NEXT: %r2 = "nn.reshape"(%x) {shape = [24]}
// CHECK-NEXT: return %t2, %r2

// -----

// A zero pad on H and W before a conv moves into the conv's pads.
module {
  func.func @main(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>) {
    %p = "nn.pad"(%x) {pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : (tensor<1x1x4x4xf32>) -> tensor<1x1x6x6xf32>
    %w = "nn.constant"() {value = dense<1.0> : tensor<1x1x3x3xf32>} : () -> tensor<1x1x3x3xf32>
    %c = "nn.conv2d"(%p, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x1x6x6xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x4x4xf32>
    return %c : tensor<1x1x4x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NOT: nn.pad
// CHECK: %c = "nn.conv2d"(%x, %w) {dilations = [1, 1], group = 1, pads = [1, 1, 1, 1], strides = [1, 1]}

// -----

// Constants fold; a multiply by a broadcasting 1 that changes the shape stays.
module {
  func.func @main(%x: tensor<3xf32>) -> (tensor<2x3xf32>) {
    %c = "nn.constant"() {value = dense<[1.0, 4.0, 9.0]> : tensor<3xf32>} : () -> tensor<3xf32>
    %n = "nn.sub"(%c, %c) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %y = "nn.add"(%x, %n) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
    %one = "nn.constant"() {value = dense<1.0> : tensor<2x3xf32>} : () -> tensor<2x3xf32>
    %z = "nn.mul"(%y, %one) : (tensor<3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    return %z : tensor<2x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %one = "nn.constant"
// CHECK-NEXT: %z = "nn.mul"(%x, %one)
// CHECK-NEXT: return %z
