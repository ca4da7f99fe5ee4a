// RUN: -p "calibrate{method=minmax random-samples=4},mixed-precision{layers=1}"
// EQUIV: exact
// Ranks the calibrated activations by their local int8 SQNR and removes the
// quant.stats of the worst (here %y, whose range is stretched by the large weight
// entry), so that quantize leaves it float. The other ranges stay; the graph
// computes exactly what it did (quant.stats is the identity). No data: it measures
// on calibrate's random samples, with a warning.
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "z"}) {
    %w = "nn.constant"() {value = dense<[[1.0, -2.0, 0.5, 0.25], [0.0, 1.0, -1.0, 2.0], [3.0, 0.5, 0.5, -0.5], [1.0, 1.0, 1.0, 400.0]]> : tensor<4x4xf32>} : () -> tensor<4x4xf32>
    %y = "nn.dense"(%x, %w) : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
    %z = "nn.tanh"(%y) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    return %z : tensor<2x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %x_stats = "quant.stats"(%x)
// CHECK: %y = "nn.dense"(%x_stats, %w)
// CHECK-NOT: "quant.stats"(%y)
// CHECK: %z = "nn.tanh"(%y)
// CHECK-NEXT: %z_stats = "quant.stats"(%z)
