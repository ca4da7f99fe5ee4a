// RUN: -p tpu-lower
// EQUIV: exact
// A nearest Resize by 2 x 3 (half-pixel coordinates rounded half down copy input
// pixel out // factor) whose output keeps the input's type -> tpu.upsample, a copy in
// the pool unit; nothing stays in float.
module {
  func.func @main(%x: tensor<1x2x2x2xf32>) -> (tensor<1x2x4x6xf32> {qcc.name = "up"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.02:3>>
    %sx = "quant.dequantize"(%x_q) : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.02:3>>) -> tensor<1x2x2x2xf32>
    %up = "nn.resize"(%sx) {coordinate_mode = "half_pixel", mode = "nearest", nearest_mode = "round_prefer_floor", scales = [1.0, 1.0, 2.0, 3.0], sizes = [1, 2, 4, 6]} : (tensor<1x2x2x2xf32>) -> tensor<1x2x4x6xf32>
    %up_q = "quant.quantize"(%up) : (tensor<1x2x4x6xf32>) -> tensor<1x2x4x6x!quant.uniform<i8:f32, 0.02:3>>
    %sup = "quant.dequantize"(%up_q) : (tensor<1x2x4x6x!quant.uniform<i8:f32, 0.02:3>>) -> tensor<1x2x4x6xf32>
    return %sup : tensor<1x2x4x6xf32>
  }
}
// CHECK: %up_q = "tpu.upsample"(%x_q_1) {factors = [2, 3], row_chunk = 2048}
// CHECK-NOT: "nn.resize"
