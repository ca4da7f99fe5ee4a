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

// -----

// Inheritance and exclusion: an excluded max pool keeps its own range (it computes
// in float); the reshape after it inherits the max pool's quantized type. A reshape
// of an excluded (float) tensor has no quantized input to inherit: its own range.
module {
  func.func @main(%x: tensor<1x1x2x2xf32>) -> (tensor<1x1xf32>, tensor<1x4xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
    %p = "nn.max_pool"(%sx) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x1x2x2xf32>) -> tensor<1x1x1x1xf32> loc(onnx "MaxPool" "keep_me")
    %sp = "quant.stats"(%p) {max = 4.0, min = -2.0} : (tensor<1x1x1x1xf32>) -> tensor<1x1x1x1xf32>
    %f = "nn.reshape"(%sp) {shape = [1, 1]} : (tensor<1x1x1x1xf32>) -> tensor<1x1xf32>
    %sf = "quant.stats"(%f) {max = 2.0, min = 0.0} : (tensor<1x1xf32>) -> tensor<1x1xf32>
    %keep_me = "nn.transpose"(%sx) {perm = [0, 1, 3, 2]} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
    %sk = "quant.stats"(%keep_me) {max = 4.0, min = -4.0} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
    %g = "nn.reshape"(%sk) {shape = [1, 4]} : (tensor<1x1x2x2xf32>) -> tensor<1x4xf32>
    %sg = "quant.stats"(%g) {max = 5.0, min = -5.0} : (tensor<1x4xf32>) -> tensor<1x4xf32>
    return %sf, %sg : tensor<1x1xf32>, tensor<1x4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %x_q = "quant.quantize"(%x) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.03137254901960784:0>>
// CHECK: %p_q = "quant.quantize"(%p) : (tensor<1x1x1x1xf32>) -> tensor<1x1x1x1x!quant.uniform<i8:f32, 0.023529411764705882:-43>>
// CHECK: %f_q = "quant.quantize"(%f) : (tensor<1x1xf32>) -> tensor<1x1x!quant.uniform<i8:f32, 0.023529411764705882:-43>>
// CHECK: %keep_me = "nn.transpose"(%x_dq)
// CHECK-NEXT: %g = "nn.reshape"(%keep_me)
// CHECK-NEXT: %g_q = "quant.quantize"(%g) : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.0392156862745098:0>>
