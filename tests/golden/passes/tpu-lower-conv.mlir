// RUN: -p tpu-lower
// EQUIV: exact
// quant.conv2d + quant.requantize -> tpu.conv2d: taps packed into one 256-lane row when
// the input has at most 128 channels (taps_per_row = 256 // C, at most the taps), else
// one tap per pass; tiles[o] counts the weight tiles (passes) of output tile o.
// C = 3, 3x3, pad 1: all 9 taps in one row, one pass.
module {
  func.func @main(%x: tensor<1x3x4x4xf32>) -> (tensor<1x2x4x4xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4x!quant.uniform<i8:f32, 0.01712822166143679:10>>
    %w = "nn.constant"() {value = dense<"0xC7260F1AED0C0F68D8FF159BA27F9822CED38CCB2EAF231276E44A27F3B643C3EB2732DAFFF5356FAF298101CF5907DFEAE608F91D44"> : tensor<2x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005116106487634614:0, 0.0067515955196590875:0}>>} : () -> tensor<2x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005116106487634614:0, 0.0067515955196590875:0}>>
    %b = "nn.constant"() {value = dense<[2401, -3180]> : tensor<2x!quant.uniform<i32:f32:0, {8.762980596372048e-05:0, 0.00011564282462908437:0}>>} : () -> tensor<2x!quant.uniform<i32:f32:0, {8.762980596372048e-05:0, 0.00011564282462908437:0}>>
    %0 = "quant.conv2d"(%x_q, %w, %b) {dilations = [1, 1], group = 1, pads = [1, 1, 1, 1], strides = [1, 1]} : (tensor<1x3x4x4x!quant.uniform<i8:f32, 0.01712822166143679:10>>, tensor<2x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.005116106487634614:0, 0.0067515955196590875:0}>>, tensor<2x!quant.uniform<i32:f32:0, {8.762980596372048e-05:0, 0.00011564282462908437:0}>>) -> tensor<1x2x4x4x!quant.uniform<i32:f32:1, {8.762980596372048e-05:0, 0.00011564282462908437:0}>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1721994373, 1136236073], shift = [-8, -7]} : (tensor<1x2x4x4x!quant.uniform<i32:f32:1, {8.762980596372048e-05:0, 0.00011564282462908437:0}>>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.027976279165230544:6>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.027976279165230544:6>>) -> tensor<1x2x4x4xf32>
    return %y_dq : tensor<1x2x4x4xf32>
  }
}
// CHECK: %y_q_bias = "nn.constant"() {value = dense<[3461, -3560]> : tensor<2xi32>}
// CHECK-NEXT: %y_q = "tpu.conv2d"(%x_q_1, %w, %y_q_bias)
// CHECK-SAME: k_tiles = 1,
// CHECK-SAME: n_tiles = 1, pads = [1, 1, 1, 1],
// CHECK-SAME: taps_per_row = 9, tiles = [1]}
// CHECK-NOT: "quant.dense"
// CHECK-NOT: "quant.conv2d"
// CHECK-NOT: "quant.requantize"

// -----

// C = 100, 1x3: two taps per row, so two passes.
module {
  func.func @main(%x: tensor<1x100x2x3xf32>) -> (tensor<1x1x2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x100x2x3xf32>) -> tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %w = "nn.constant"() {value = dense<"0xBFE22AF3E506C8D314F4EE0DE9E5EE1802D0F41A4BD20DF621123B15EAEB10106043D10ECBBE1E16D742D9D11A09FAFD09FAF9B4CB18E41631F20B531C493D1EFCDED41313F922E82C02FF00FC63C007321DF445D5CC17C6A1231E1DED07DA45201EB2203C301F00F2180F09F443D1FFE92939321EC85315FC01F2110CF29AFF1315FA1229ED3AB2CEDC9FD8323104450AEC0AFB1DC428EE22C3EF0324CF4213EB31042E5D1FEBEF170BDFE51B5E971DF81F2302D8C8B531F8EAF5CB0C352DC236E2B4CFD900D7C4F54DE413036AB42CCDE8FC7FE2B534DFF6FF04F90B0F22EFE2D618FE161543081ED0D5F4D01BCB039ED4F2F6B904271AE6E9D11939EBBC081C9306562116102ADADE10E50AB41E22020741D5DCD4EFD801E6C6C230FDF701FD1E16E8DFD5CE38DBB0DEE1"> : tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>} : () -> tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>
    %0 = "quant.conv2d"(%x_q, %w) {dilations = [1, 1], group = 1, pads = [0, 1, 0, 1], strides = [1, 1]} : (tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>, tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>) -> tensor<1x1x2x3x!quant.uniform<i32:f32:1, {3.42636255879173e-05:0}>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1968779674], shift = [-8]} : (tensor<1x1x2x3x!quant.uniform<i32:f32:1, {3.42636255879173e-05:0}>>) -> tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>) -> tensor<1x1x2x3xf32>
    return %y_dq : tensor<1x1x2x3xf32>
  }
}
// CHECK: %y_q = "tpu.conv2d"(%x_q_1, %w, %y_q_bias)
// CHECK-SAME: pads = [0, 1, 0, 1],
// CHECK-SAME: taps_per_row = 2, tiles = [2]}
// CHECK-NOT: "quant.dense"
// CHECK-NOT: "quant.conv2d"
// CHECK-NOT: "quant.requantize"

// -----

// C = 129 (more than half a row), 2x1: one tap per pass, two passes.
module {
  func.func @main(%x: tensor<1x129x2x2xf32>) -> (tensor<1x1x1x2xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x129x2x2xf32>) -> tensor<1x129x2x2x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %w = "nn.constant"() {value = dense<"0x0FD9181138617F3CCCEE0B5C1E36F81A20EC2330F92D490300F2E407EEF2DEBCD60FCBE34932E11BE349E6043EDB3ADC0BF3FC07FDD32720393EC4393AE82E41E8C3F07C0BCAF5D4EE048E103FF7EF31C8C8C2F912FC192516DCF438D1F5EDF8D0C4722AE0FD1EF11BE5F0FCEC93010C15D40F0AB19E15D52D5FE6E1FF1ECD382C1DE82926CA5DF310E91134DCB6ECC6DEFAFD3AD310E93D710E4BE8B9C7BAD5F5331F15EDE001060B11FBAACEDB4CED1E410FEEF3D20E3219222059E4071F3894E9F7D2260AEEB7C5D414CAA4BFE64B70EB2A3E39FBC6EAAD0B23ACFE0D383D24E1F036E5FE4606C3F31DF83439E3EAFBCA11F823E5D952D9E6DFF2D7FEE1ED101F"> : tensor<1x129x2x1x!quant.uniform<i8<-127:127>:f32:0, {0.0011216158003318967:0}>>} : () -> tensor<1x129x2x1x!quant.uniform<i8<-127:127>:f32:0, {0.0011216158003318967:0}>>
    %0 = "quant.conv2d"(%x_q, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x129x2x2x!quant.uniform<i8:f32, 0.027315523110184016:15>>, tensor<1x129x2x1x!quant.uniform<i8<-127:127>:f32:0, {0.0011216158003318967:0}>>) -> tensor<1x1x1x2x!quant.uniform<i32:f32:1, {3.0637522314713465e-05:0}>>
    %y_q = "quant.requantize"(%0) {clamp_max = 127, clamp_min = -128, multiplier = [1377407569], shift = [-7]} : (tensor<1x1x1x2x!quant.uniform<i32:f32:1, {3.0637522314713465e-05:0}>>) -> tensor<1x1x1x2x!quant.uniform<i8:f32, 0.006114078503029019:50>>
    %y_dq = "quant.dequantize"(%y_q) : (tensor<1x1x1x2x!quant.uniform<i8:f32, 0.006114078503029019:50>>) -> tensor<1x1x1x2xf32>
    return %y_dq : tensor<1x1x1x2xf32>
  }
}
// CHECK: %y_q_bias = "nn.constant"() {value = dense<[-5580]> : tensor<1xi32>}
// CHECK-NEXT: %y_q = "tpu.conv2d"(%x_q_1, %w, %y_q_bias)
// CHECK-SAME: k_tiles = 1,
// CHECK-SAME: taps_per_row = 1, tiles = [2]}
// CHECK-NOT: "quant.dense"
// CHECK-NOT: "quant.conv2d"
// CHECK-NOT: "quant.requantize"
