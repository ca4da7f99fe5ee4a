// RUN: -p quantize{exclude=keep_me}
// EQUIV: atol=0.1
// An excluded op (by ONNX node name) keeps float weights and computes in float on
// dequantized inputs; its output is still quantized for the next op.
module {
  func.func @main(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<2x2xf32>) -> tensor<2x2xf32>
    %w = "nn.constant"() {value = dense<[[1.0, 0.5], [-0.5, 1.0]]> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
    %a = "nn.dense"(%sx, %w) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc(onnx "Gemm" "keep_me")
    %sa = "quant.stats"(%a) {max = 6.0, min = -6.0} : (tensor<2x2xf32>) -> tensor<2x2xf32>
    %b = "nn.dense"(%sa, %w) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32> loc(onnx "Gemm" "quantize_me")
    %sb = "quant.stats"(%b) {max = 9.0, min = -9.0} : (tensor<2x2xf32>) -> tensor<2x2xf32>
    return %sb : tensor<2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %a = "nn.dense"(%x_dq, %w) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %a_q = "quant.quantize"(%a)
// CHECK-NEXT: %a_dq = "quant.dequantize"(%a_q)
// CHECK: "quant.dequantize"(%w_1)
// CHECK: %b = "nn.dense"(%a_dq, %{{[0-9]+}}) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %b_q = "quant.quantize"(%b)
