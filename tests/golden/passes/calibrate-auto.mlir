// RUN: -p "calibrate{method=auto random-samples=32}"
// EQUIV: exact
// method=auto: per activation, the range method whose range gives the least error
// at the output (measured with the weights quantized per channel, on the 32 random
// samples calibrate uses here, with a warning). The cube of a normal input is
// heavy-tailed: entropy's clipped range wins for %x3; the dense output feeding tanh
// keeps its full (minmax) range. Ranges of values computed by the dense are float32
// products whose last bits depend on the CPU's BLAS kernel, so they are checked to
// six digits. quant.stats is the identity: the graph computes what it did.
module {
  func.func @main(%x: tensor<4x4xf32>) -> (tensor<4x2xf32> {qcc.name = "z"}) {
    %x2 = "nn.mul"(%x, %x) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    %x3 = "nn.mul"(%x2, %x) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    %w = "nn.constant"() {value = dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 1.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %y = "nn.dense"(%x3, %w) : (tensor<4x4xf32>, tensor<4x4xf32>) -> tensor<4x4xf32>
    %t = "nn.tanh"(%y) : (tensor<4x4xf32>) -> tensor<4x4xf32>
    %v = "nn.constant"() {value = dense<[[1.0, -1.0], [0.5, 2.0], [-1.5, 0.25], [2.0, 1.0]]> : tensor<4x2xf32>} : () -> tensor<4x2xf32>
    %z = "nn.dense"(%t, %v) : (tensor<4x4xf32>, tensor<4x2xf32>) -> tensor<4x2xf32>
    return %z : tensor<4x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_stats = "quant.stats"(%x) {max = 2.002392530441284, min = -2.32503080368042}
// CHECK-NEXT: %x2 = "nn.mul"(%x_stats, %x_stats)
// CHECK-NEXT: %x2_stats = "quant.stats"(%x2) {max = 5.405768394470215, min = 1.9839300875901245e-05}
// CHECK-NEXT: %x3 = "nn.mul"(%x2_stats, %x_stats)
// CHECK-NEXT: %x3_stats = "quant.stats"(%x3) {max = 8.0287446975708, min = -11.399886856670491}
// CHECK: %y = "nn.dense"(%x3_stats, %w)
// CHECK-NEXT: %y_stats = "quant.stats"(%y) {max = {{23\.76701[0-9]+}}, min = {{-21\.01506[0-9]+}}}
// CHECK-NEXT: %t = "nn.tanh"(%y_stats)
// CHECK-NEXT: %t_stats = "quant.stats"(%t) {max = 1.0, min = -1.0}
// CHECK: %z = "nn.dense"(%t_stats, %v)
// CHECK-NEXT: %z_stats = "quant.stats"(%z) {max = {{4\.98824[0-9]+}}, min = {{-4\.64662[0-9]+}}}
// CHECK-NEXT: return %z_stats
