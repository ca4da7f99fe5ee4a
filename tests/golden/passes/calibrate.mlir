// RUN: -p "calibrate{method=minmax random-samples=4}"
// No data: 4 seeded standard-normal samples (the pass warns), 2 batches of 2.
// Every f32 activation gets a quant.stats right after its definition (the argument
// at the top) and its other uses, the return included, read the stats op. The
// constant and the relu of the constant are not activations. The dense's sums are
// float32 products whose last bits depend on the CPU's BLAS kernel (FMA or not), so
// the ranges computed from them are checked to six digits.
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "s"}, tensor<2x4xf32> {qcc.name = "r"}) {
    %w = "nn.constant"() {value = dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %wt = "nn.relu"(%w) : (tensor<4x4xf32>) -> tensor<4x4xf32>
    %y = "nn.dense"(%x, %wt) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %r = "nn.relu"(%y) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %s = "nn.add"(%r, %x) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    return %s, %r : tensor<2x4xf32>, tensor<2x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_stats = "quant.stats"(%x) {max = 1.3040000200271606, min = -2.32503080368042}
// CHECK-NEXT: %w = "nn.constant"()
// CHECK-NEXT: %wt = "nn.relu"(%w)
// CHECK-NEXT: %y = "nn.dense"(%x_stats, %wt)
// CHECK-NEXT: %y_stats = "quant.stats"(%y) {max = {{4\.32341[0-9]+}}, min = {{-6\.79503[0-9]+}}}
// CHECK-NEXT: %r = "nn.relu"(%y_stats)
// CHECK-NEXT: %r_stats = "quant.stats"(%r) {max = {{4\.32341[0-9]+}}, min = 0.0}
// CHECK-NEXT: %s = "nn.add"(%r_stats, %x_stats)
// CHECK-NEXT: %s_stats = "quant.stats"(%s) {max = {{3\.78774[0-9]+}}, min = -2.32503080368042}
// CHECK-NEXT: return %s_stats, %r_stats
// CHECK-NOT: quant.stats

// -----

// Calibrating again updates an existing quant.stats instead of stacking another;
// unnamed values get stats named after their printed number.
module {
  func.func @main(%x: tensor<1x3xf32>) -> (tensor<1x3xf32>) {
    %x_stats = "quant.stats"(%x) {max = 1.0, min = -1.0} : (tensor<1x3xf32>) -> tensor<1x3xf32>
    %c = "nn.constant"() {value = dense<[[0.5, 1.0, 2.0]]> : tensor<1x3xf32>} : () -> tensor<1x3xf32>
    %c2 = "nn.tanh"(%c) : (tensor<1x3xf32>) -> tensor<1x3xf32>
    %0 = "nn.mul"(%x_stats, %c2) : (tensor<1x3xf32>, tensor<1x3xf32>) -> tensor<1x3xf32>
    %1 = "nn.sigmoid"(%0) : (tensor<1x3xf32>) -> tensor<1x3xf32>
    return %1 : tensor<1x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_stats = "quant.stats"(%x) {max = 1.3040000200271606, min = -1.2654215097427368}
// CHECK-NOT: "quant.stats"(%x)
// CHECK-NOT: "quant.stats"(%x_stats)
// CHECK: %c2 = "nn.tanh"(%c)
// CHECK-NEXT: %0 = "nn.mul"(%x_stats, %c2)
// CHECK-NEXT: %0_stats = "quant.stats"(%0) {max = 0.7212913632392883, min = -0.6784201860427856}
// CHECK-NEXT: %1 = "nn.sigmoid"(%0_stats)
// CHECK-NEXT: %1_stats = "quant.stats"(%1) {max = 0.6728913187980652, min = 0.3366140127182007}
// CHECK-NEXT: return %1_stats

// -----

// A graph computed from constants only has no activations: nothing to calibrate,
// and no data is needed.
module {
  func.func @main(%x: tensor<2xi64>) -> (tensor<2xf32>) {
    %c = "nn.constant"() {value = dense<[1.0, -1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    %t = "nn.tanh"(%c) : (tensor<2xf32>) -> tensor<2xf32>
    return %t : tensor<2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NOT: quant.stats
// CHECK: return %t
