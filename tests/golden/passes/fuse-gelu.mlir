// RUN: -p fuse-gelu
// PyTorch's GELU export, (x * (erf(x / 1.4142135) + 1)) * 0.5, is one nn.gelu.
module {
  func.func @main(%x: tensor<2x8xf32>) -> (tensor<2x8xf32>) {
    %sqrt2 = "nn.constant"() {value = dense<1.4142135> : tensor<f32>} : () -> tensor<f32>
    %one = "nn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
    %half = "nn.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
    %s = "nn.div"(%x, %sqrt2) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %e = "nn.erf"(%s) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %a = "nn.add"(%e, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %m = "nn.mul"(%x, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = "nn.mul"(%m, %half) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %y = "nn.gelu"(%x) {approximate = "none"}
// CHECK-NEXT: return %y
// CHECK-NOT: nn.erf

// -----

// The 0.5 multiplied first, a Mul by 1/sqrt(2), 1 + erf with the constant first.
module {
  func.func @main(%x: tensor<1x4x8xf32>) -> (tensor<1x4x8xf32>) {
    %rsqrt2 = "nn.constant"() {value = dense<0.70710677> : tensor<1xf32>} : () -> tensor<1xf32>
    %one = "nn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
    %half = "nn.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
    %h = "nn.mul"(%half, %x) : (tensor<f32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    %s = "nn.mul"(%x, %rsqrt2) : (tensor<1x4x8xf32>, tensor<1xf32>) -> tensor<1x4x8xf32>
    %e = "nn.erf"(%s) : (tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    %a = "nn.add"(%one, %e) : (tensor<f32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    %y = "nn.mul"(%h, %a) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>) -> tensor<1x4x8xf32>
    return %y : tensor<1x4x8xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %y = "nn.gelu"(%x) {approximate = "none"}
// CHECK-NEXT: return %y

// -----

// 0.5 times (1 + erf) first, then x.
module {
  func.func @main(%x: tensor<2x8xf32>) -> (tensor<2x8xf32>) {
    %sqrt2 = "nn.constant"() {value = dense<1.4142135> : tensor<f32>} : () -> tensor<f32>
    %one = "nn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
    %half = "nn.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
    %s = "nn.div"(%x, %sqrt2) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %e = "nn.erf"(%s) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %a = "nn.add"(%e, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %m = "nn.mul"(%half, %a) : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = "nn.mul"(%x, %m) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    return %y : tensor<2x8xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %y = "nn.gelu"(%x) {approximate = "none"}
// CHECK-NEXT: return %y

// -----

// Not fused: the constants are not GELU's (erf(x / 2)), and the erf has another user.
module {
  func.func @main(%x: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
    %two = "nn.constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
    %sqrt2 = "nn.constant"() {value = dense<1.4142135> : tensor<f32>} : () -> tensor<f32>
    %one = "nn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
    %half = "nn.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
    %s = "nn.div"(%x, %two) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %e = "nn.erf"(%s) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %a = "nn.add"(%e, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %m = "nn.mul"(%x, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y = "nn.mul"(%m, %half) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %s2 = "nn.div"(%x, %sqrt2) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %e2 = "nn.erf"(%s2) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %a2 = "nn.add"(%e2, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %m2 = "nn.mul"(%x, %a2) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    %y2 = "nn.mul"(%m2, %half) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
    %z = "nn.add"(%y2, %e2) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
    return %y, %z : tensor<2x8xf32>, tensor<2x8xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %e = "nn.erf"(%s)
// CHECK: %y = "nn.mul"(%m, %half)
// CHECK: %e2 = "nn.erf"(%s2)
// CHECK: %y2 = "nn.mul"(%m2, %half)
// CHECK-NOT: nn.gelu
