// RUN: -p tpu-lower
// EQUIV: exact
// quant.requantize of an int8 tensor (in the Unified Buffer) -> tpu.activate: requantize
// from the Unified Buffer in the activation unit. A requantize of an int32 result is
// lowered with the op that produced it instead (tpu-lower-dense.mlir).
// Rescale 0.02 -> 0.03 with a zero point change.
module {
  func.func @main(%x: tensor<1x4xf32>) -> (tensor<1x4xf32> {qcc.name = "y"}) {
    %a0 = "quant.quantize"(%x) : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>
    %a1 = "quant.requantize"(%a0) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:1>>
    %y = "quant.dequantize"(%a1) : (tensor<1x4x!quant.uniform<i8:f32, 0.03:1>>) -> tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }
}
// CHECK: %a0_1 = "tpu.read_host"(%a0)
// CHECK-NEXT: %a1 = "tpu.activate"(%a0_1) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]}
// CHECK-SAME: -> tensor<1x4x!quant.uniform<i8:f32, 0.03:1>>
// CHECK-NOT: "quant.requantize"
