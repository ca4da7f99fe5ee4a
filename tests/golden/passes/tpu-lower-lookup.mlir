// RUN: -p tpu-lower
// EQUIV: exact
// dequantize, sigmoid or tanh, quantize -> tpu.lookup: the 256 results of every input
// code, table[code - storage min], computed with the interpreter's own functions.
// Sigmoid, int8.
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %x_dq = "quant.dequantize"(%x_q) : (tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<2x4xf32>
    %y = "nn.sigmoid"(%x_dq) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %y_q = "quant.quantize"(%y) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.0031247377395629884:-128>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x4x!quant.uniform<i8:f32, 0.0031247377395629884:-128>>) -> tensor<2x4xf32>
    return %y_dq : tensor<2x4xf32>
  }
}
// CHECK: %y_q = "tpu.lookup"(%x_q_1) {function = "sigmoid", table = [-100, -99, -99, -98,
// CHECK-SAME: -> tensor<2x4x!quant.uniform<i8:f32, 0.0031247377395629884:-128>>
// CHECK-NOT: "nn.sigmoid"
// CHECK-NOT: "quant.dequantize"(%x_q

// -----

// Tanh, int8.
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>
    %x_dq = "quant.dequantize"(%x_q) : (tensor<2x4x!quant.uniform<i8:f32, 0.014476447946885053:33>>) -> tensor<2x4xf32>
    %y = "nn.tanh"(%x_dq) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %y_q = "quant.quantize"(%y) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<i8:f32, 0.007289971791061701:7>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x4x!quant.uniform<i8:f32, 0.007289971791061701:7>>) -> tensor<2x4xf32>
    return %y_dq : tensor<2x4xf32>
  }
}
// CHECK: %y_q = "tpu.lookup"(%x_q_1) {function = "tanh", table = [-128, -128, -127,
// CHECK-NOT: "nn.tanh"

// -----

// Sigmoid, uint8: the table holds the result bytes (as int8: 127, then -128 for 128).
module {
  func.func @main(%x: tensor<2x4xf32>) -> (tensor<2x4xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<u8:f32, 0.014476447946885053:161>>
    %x_dq = "quant.dequantize"(%x_q) : (tensor<2x4x!quant.uniform<u8:f32, 0.014476447946885053:161>>) -> tensor<2x4xf32>
    %y = "nn.sigmoid"(%x_dq) : (tensor<2x4xf32>) -> tensor<2x4xf32>
    %y_q = "quant.quantize"(%y) : (tensor<2x4xf32>) -> tensor<2x4x!quant.uniform<u8:f32, 0.0031247377395629884:0>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x4x!quant.uniform<u8:f32, 0.0031247377395629884:0>>) -> tensor<2x4xf32>
    return %y_dq : tensor<2x4xf32>
  }
}
// CHECK: %y_q = "tpu.lookup"(%x_q_1) {function = "sigmoid", table = [28, 29, 29,
// CHECK-SAME: 126, 127, -128, -127,
// CHECK-SAME: -> tensor<2x4x!quant.uniform<u8:f32, 0.0031247377395629884:0>>
