// RUN: -p tpu-lower
// EQUIV: exact
// quant.add -> tpu.add (the vector adder) with quant.add's multipliers, shifts and
// clamp; operands of different scales.
// x + sigmoid(x).
module {
  func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.014231493426304238:35>>
    %x_dq = "quant.dequantize"(%x_q) : (tensor<2x3x!quant.uniform<i8:f32, 0.014231493426304238:35>>) -> tensor<2x3xf32>
    %s = "nn.sigmoid"(%x_dq) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %s_q = "quant.quantize"(%s) : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.0030843428536957386:-128>>
    %y_q = "quant.add"(%x_q, %s_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 1861667119, 1801304357], shift = [0, -3, -19]} : (tensor<2x3x!quant.uniform<i8:f32, 0.014231493426304238:35>>, tensor<2x3x!quant.uniform<i8:f32, 0.0030843428536957386:-128>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.01696653833576277:4>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<2x3x!quant.uniform<i8:f32, 0.01696653833576277:4>>) -> tensor<2x3xf32>
    return %y_dq : tensor<2x3xf32>
  }
}
// CHECK: %s_q = "tpu.lookup"(%x_q_1)
// CHECK-NEXT: %y_q = "tpu.add"(%x_q_1, %s_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 1861667119, 1801304357], shift = [0, -3, -19]}
// CHECK-NOT: "quant.add"
