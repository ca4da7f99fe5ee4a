// RUN: -p tpu-tile-ub{ub-rows=40}
// EQUIV: exact
// Activations larger than the Unified Buffer (here 40 rows, the pass's ub-rows
// option). A graph that fits gets no attributes. One that fits at a smaller batch runs
// in batch chunks: batch_chunk on every layer and host transfer. Otherwise tensors are
// spilled to host memory (spill on the producer; a model input costs no extra PCIe
// bytes, so it goes first) and the convolutions and poolings that touch them run in
// bands of band_rows output rows, the most whose staging fits.
// A conv -> max pool -> strided conv on one 8x8 image: 64 + 64 rows do not fit 40.
module {
  func.func @main(%input: tensor<1x3x8x8xf32>) -> (tensor<1x4x2x2xf32> {qcc.name = "output"}) {
    %input_q = "quant.quantize"(%input) : (tensor<1x3x8x8xf32>) -> tensor<1x3x8x8x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %input_q_1 = "tpu.read_host"(%input_q) {tensor = "input"} : (tensor<1x3x8x8x!quant.uniform<i8:f32, 0.027315523110184016:15>>) -> tensor<1x3x8x8x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %w_1 = "nn.constant"() {value = dense<"0x07F92306E3144734DABBDE0281F4BCD8E2EF1639F94BDC133105D7C4E20EBFF2F6230E17D6F83361AE62573311EC5E7F755517B2002BB6171928BCDAE7BD64E313F15B4C258103273ADC69B4DA3603730BD0E4AEA02F2C61C77FEA76DFC9134E0CD49B97264AF4AF42A0CA2F"> : tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004982623997635729:0, 0.004200903449471541:0, 0.0047222000407421685:0, 0.0036198175328923023:0}>>} : () -> tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004982623997635729:0, 0.004200903449471541:0, 0.0047222000407421685:0, 0.0036198175328923023:0}>>
    %relu_3_q_bias = "nn.constant"() {value = dense<[2025, -8505, -3090, 2205]> : tensor<4xi32>} : () -> tensor<4xi32>
    %relu_3_q = "tpu.conv2d"(%input_q_1, %w_1, %relu_3_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [2136755997, 1801521777, 2025075395, 1552328016], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-7, -7, -7, -7], strides = [1, 1], taps_per_row = 9, tiles = [1]} : (tensor<1x3x8x8x!quant.uniform<i8:f32, 0.027315523110184016:15>>, tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004982623997635729:0, 0.004200903449471541:0, 0.0047222000407421685:0, 0.0036198175328923023:0}>>, tensor<4xi32>) -> tensor<1x4x8x8x!quant.uniform<i8:f32, 0.017508645151175704:-128>>
    %pool_4_q = "tpu.pool"(%relu_3_q) {clamp_max = 0, clamp_min = 0, dilations = [1, 1], kernel = [2, 2], kind = "max", multiplier = [], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [], strides = [2, 2]} : (tensor<1x4x8x8x!quant.uniform<i8:f32, 0.017508645151175704:-128>>) -> tensor<1x4x4x4x!quant.uniform<i8:f32, 0.017508645151175704:-128>>
    %w_5 = "nn.constant"() {value = dense<"0x8715E106FC0B25D74C272D3F2A2D04B3F9D7B40EE1C9C80E1347FF384B3E81421217141511ED9BFAD539F104D3E5FFB110FAC1811BF0E4F360FD05B157313903311420F8B2369AF3F5C722F5E81DE64C13E695B83CFDF05AB9E0E620DCDEA8282CE609B9E64C077FD520F51F00E9DD7DFDAEE51CEC3829FAEDD7E3C43141CDD0B8D981D135F223EC4808F068F3CE08FE"> : tensor<4x4x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004389822483062744:0, 0.004450936486401896:0, 0.004287857239640604:0, 0.005765122691477377:0}>>} : () -> tensor<4x4x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004389822483062744:0, 0.004450936486401896:0, 0.004287857239640604:0, 0.005765122691477377:0}>>
    %output_q_bias = "nn.constant"() {value = dense<[23040, -38272, -14208, -25600]> : tensor<4xi32>} : () -> tensor<4xi32>
    %output_q = "tpu.conv2d"(%pool_4_q, %w_5, %output_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1619946621, 1642499110, 1582319074, 2127464393], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-7, -7, -7, -7], strides = [2, 2], taps_per_row = 9, tiles = [1]} : (tensor<1x4x4x4x!quant.uniform<i8:f32, 0.017508645151175704:-128>>, tensor<4x4x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.004389822483062744:0, 0.004450936486401896:0, 0.004287857239640604:0, 0.005765122691477377:0}>>, tensor<4xi32>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01304183286779067:-128>>
    %output_q_1 = "tpu.write_host"(%output_q) {tensor = "output"} : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01304183286779067:-128>>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01304183286779067:-128>>
    %output_dq = "quant.dequantize"(%output_q_1) : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.01304183286779067:-128>>) -> tensor<1x4x2x2xf32>
    return %output_dq : tensor<1x4x2x2xf32>
  }
}
// CHECK: "tpu.read_host"
// CHECK-SAME: spill = 1
// CHECK: %relu_3_q = "tpu.conv2d"
// CHECK-SAME: band_rows = 1,
// CHECK-SAME: spill = 1,
// CHECK: %pool_4_q = "tpu.pool"
// CHECK-SAME: band_rows = 1,
// CHECK-NOT: spill
// CHECK: %output_q = "tpu.conv2d"
// CHECK-NOT: band_rows
// CHECK: "tpu.write_host"

// -----
// Batch 2 of 4x4 images: 2 x (16 + 16) rows do not fit, one image does.
module {
  func.func @main(%input: tensor<2x3x4x4xf32>) -> (tensor<2x4x4x4xf32> {qcc.name = "output"}) {
    %input_q = "quant.quantize"(%input) : (tensor<2x3x4x4xf32>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>
    %input_q_1 = "tpu.read_host"(%input_q) {tensor = "input"} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>
    %w_1 = "nn.constant"() {value = dense<"0x10260FC32A15E71B110E011ADEF8E91C02F2DBF400F33D2F81A8F8E70D0D7FBDE97A2728E19D0A07B6D7FCC7FA0602E2243513CF2CE244AD46FEA0E80415B4AB0FDC123B81145EE9C23A1445E58EF8DE3C0BA4BD3226DC00191A310EFBF13C81F802B013DB31F9264516CFAB"> : tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>} : () -> tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>
    %output_q_bias = "nn.constant"() {value = dense<[1045, 55, 2431, 1496]> : tensor<4xi32>} : () -> tensor<4xi32>
    %output_q = "tpu.conv2d"(%input_q_1, %w_1, %output_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1236510927, 1931814106, 1503962710, 2053145777], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-6, -7, -7, -7], strides = [1, 1], taps_per_row = 9, tiles = [1]} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>, tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>, tensor<4xi32>) -> tensor<2x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>
    %output_q_1 = "tpu.write_host"(%output_q) {tensor = "output"} : (tensor<2x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>) -> tensor<2x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>
    %output_dq = "quant.dequantize"(%output_q_1) : (tensor<2x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>) -> tensor<2x4x4x4xf32>
    return %output_dq : tensor<2x4x4x4xf32>
  }
}
// CHECK: "tpu.read_host"
// CHECK-SAME: batch_chunk = 1,
// CHECK: "tpu.conv2d"
// CHECK-SAME: batch_chunk = 1,
// CHECK-NOT: spill
// CHECK: "tpu.write_host"
// CHECK-SAME: batch_chunk = 1,

// -----
// One 4x4 image: 16 + 16 rows fit, nothing changes.
module {
  func.func @main(%input: tensor<1x3x4x4xf32>) -> (tensor<1x4x4x4xf32> {qcc.name = "output"}) {
    %input_q = "quant.quantize"(%input) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>
    %input_q_1 = "tpu.read_host"(%input_q) {tensor = "input"} : (tensor<1x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>) -> tensor<1x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>
    %w_1 = "nn.constant"() {value = dense<"0x10260FC32A15E71B110E011ADEF8E91C02F2DBF400F33D2F81A8F8E70D0D7FBDE97A2728E19D0A07B6D7FCC7FA0602E2243513CF2CE244AD46FEA0E80415B4AB0FDC123B81145EE9C23A1445E58EF8DE3C0BA4BD3226DC00191A310EFBF13C81F802B013DB31F9264516CFAB"> : tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>} : () -> tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>
    %output_q_bias = "nn.constant"() {value = dense<[1045, 55, 2431, 1496]> : tensor<4xi32>} : () -> tensor<4xi32>
    %output_q = "tpu.conv2d"(%input_q_1, %w_1, %output_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1236510927, 1931814106, 1503962710, 2053145777], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-6, -7, -7, -7], strides = [1, 1], taps_per_row = 9, tiles = [1]} : (tensor<1x3x4x4x!quant.uniform<i8:f32, 0.017257354773727116:11>>, tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005810117627692035:0, 0.004538604124324528:0, 0.003533410040412362:0, 0.00482366075665932:0}>>, tensor<4xi32>) -> tensor<1x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>
    %output_q_1 = "tpu.write_host"(%output_q) {tensor = "output"} : (tensor<1x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>) -> tensor<1x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>
    %output_dq = "quant.dequantize"(%output_q_1) : (tensor<1x4x4x4x!quant.uniform<i8:f32, 0.011144768023023418:-128>>) -> tensor<1x4x4x4xf32>
    return %output_dq : tensor<1x4x4x4xf32>
  }
}
// CHECK-NOT: batch_chunk
// CHECK-NOT: spill
// CHECK-NOT: band_rows
// CHECK: return
