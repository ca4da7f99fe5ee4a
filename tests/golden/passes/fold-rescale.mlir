// RUN: -p fold-rescale
// EQUIV: atol=0.02
// (Not bit-exact: with these round-number ranges the global average lands exactly
// halfway between two codes for some inputs, and the direction an exact tie takes
// depends on the sign of the 31-bit multiplier's error; one code there moves the
// softmax output by up to two of its codes, 0.0078.)
// A fake-quantized graph (the output of quantize on conv, ReLU6, residual add, max
// pool, concat, global average pool, flatten, dense, softmax) becomes integer ops
// with one requantize per rescale; the softmax stays in float; the Clip waits for fuse-relu.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3xf32>) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:0>>
    %sx = "quant.dequantize"(%x_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:0>>) -> tensor<1x2x4x4xf32>
    %w = "nn.constant"() {value = dense<[[[[127]], [[-64]]], [[[127]], [[64]]]]> : tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>} : () -> tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>
    %0 = "quant.dequantize"(%w) : (tensor<2x2x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.003937007874015748:0, 0.007874015748031496:0}>>) -> tensor<2x2x1x1xf32>
    %b = "nn.constant"() {value = dense<[1080, -540]> : tensor<2x!quant.uniform<i32:f32:0, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>} : () -> tensor<2x!quant.uniform<i32:f32:0, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>
    %1 = "quant.dequantize"(%b) : (tensor<2x!quant.uniform<i32:f32:0, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>) -> tensor<2xf32>
    %c = "nn.conv2d"(%sx, %0, %1) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>, tensor<2xf32>) -> tensor<1x2x4x4xf32>
    %r = "nn.clip"(%c) {max = 6.0, min = 0.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %r_q = "quant.quantize"(%r) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.03137254901960784:-128>>
    %sr = "quant.dequantize"(%r_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.03137254901960784:-128>>) -> tensor<1x2x4x4xf32>
    %a = "nn.add"(%sr, %sx) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %a_q = "quant.quantize"(%a) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.050980392156862744:-69>>
    %sa = "quant.dequantize"(%a_q) : (tensor<1x2x4x4x!quant.uniform<i8:f32, 0.050980392156862744:-69>>) -> tensor<1x2x4x4xf32>
    %p = "nn.max_pool"(%sa) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
    %p_q = "quant.quantize"(%p) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.050980392156862744:-69>>
    %sp = "quant.dequantize"(%p_q) : (tensor<1x2x2x2x!quant.uniform<i8:f32, 0.050980392156862744:-69>>) -> tensor<1x2x2x2xf32>
    %cat = "nn.concat"(%sp, %sp) {axis = 1} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x4x2x2xf32>
    %cat_q = "quant.quantize"(%cat) : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, 0.058823529411764705:-77>>
    %scat = "quant.dequantize"(%cat_q) : (tensor<1x4x2x2x!quant.uniform<i8:f32, 0.058823529411764705:-77>>) -> tensor<1x4x2x2xf32>
    %g = "nn.global_avg_pool"(%scat) : (tensor<1x4x2x2xf32>) -> tensor<1x4x1x1xf32>
    %g_q = "quant.quantize"(%g) : (tensor<1x4x1x1xf32>) -> tensor<1x4x1x1x!quant.uniform<i8:f32, 0.03529411764705882:-100>>
    %sg = "quant.dequantize"(%g_q) : (tensor<1x4x1x1x!quant.uniform<i8:f32, 0.03529411764705882:-100>>) -> tensor<1x4x1x1xf32>
    %f = "nn.reshape"(%sg) {shape = [1, 4]} : (tensor<1x4x1x1xf32>) -> tensor<1x4xf32>
    %f_q = "quant.quantize"(%f) : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03529411764705882:-100>>
    %sf = "quant.dequantize"(%f_q) : (tensor<1x4x!quant.uniform<i8:f32, 0.03529411764705882:-100>>) -> tensor<1x4xf32>
    %w2 = "nn.constant"() {value = dense<[[64, -127, 32], [127, 0, -64], [-32, 64, 127], [0, 16, -127]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.007874015748031496:0, 0.007874015748031496:0, 0.007874015748031496:0}>>} : () -> tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.007874015748031496:0, 0.007874015748031496:0, 0.007874015748031496:0}>>
    %2 = "quant.dequantize"(%w2) : (tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.007874015748031496:0, 0.007874015748031496:0, 0.007874015748031496:0}>>) -> tensor<4x3xf32>
    %d = "nn.dense"(%sf, %2) : (tensor<1x4xf32>, tensor<4x3xf32>) -> tensor<1x3xf32>
    %d_q = "quant.quantize"(%d) : (tensor<1x3xf32>) -> tensor<1x3x!quant.uniform<i8:f32, 0.06274509803921569:0>>
    %sd = "quant.dequantize"(%d_q) : (tensor<1x3x!quant.uniform<i8:f32, 0.06274509803921569:0>>) -> tensor<1x3xf32>
    %sm = "nn.softmax"(%sd) {axis = 1} : (tensor<1x3xf32>) -> tensor<1x3xf32>
    %sm_q = "quant.quantize"(%sm) : (tensor<1x3xf32>) -> tensor<1x3x!quant.uniform<i8:f32, 0.00392156862745098:-128>>
    %ssm = "quant.dequantize"(%sm_q) : (tensor<1x3x!quant.uniform<i8:f32, 0.00392156862745098:-128>>) -> tensor<1x3xf32>
    return %ssm : tensor<1x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %x_q = "quant.quantize"(%x)
// CHECK: %[[ACC:[0-9]+]] = "quant.conv2d"(%x_q, %w, %b) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : ({{.*}}) -> tensor<1x2x4x4x!quant.uniform<i32:f32:1, {9.263547938860583e-05:0, 0.00018527095877721167:0}>>
// CHECK-NEXT: %[[R:[0-9]+]] = "quant.requantize"(%[[ACC]]) {clamp_max = 127, clamp_min = -128, multiplier = [1623294726, 1623294726], shift = [-8, -7]}
// CHECK-NEXT: %[[D:[0-9]+]] = "quant.dequantize"(%[[R]])
// CHECK-NEXT: %r = "nn.clip"(%[[D]])
// CHECK-NEXT: %r_q = "quant.quantize"(%r)
// CHECK-NEXT: %a_q = "quant.add"(%r_q, %x_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 1610612736, 1321528399], shift = [0, -1, -19]}
// CHECK-NEXT: %p_q = "nn.max_pool"(%a_q) {{.*}} -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.050980392156862744:-69>>
// CHECK-NEXT: %[[RP:[0-9]+]] = "quant.requantize"(%p_q) {clamp_max = 127, clamp_min = -128, multiplier = [1861152495], shift = [0]}
// CHECK-NEXT: %cat_q = "nn.concat"(%[[RP]], %[[RP]]) {axis = 1}
// CHECK-NEXT: %[[SUM:[0-9]+]] = "quant.global_avg_pool"(%cat_q) : ({{.*}}) -> tensor<1x4x1x1x!quant.uniform<i32:f32, 0.014705882352941176:0>>
// CHECK-NEXT: %g_q = "quant.requantize"(%[[SUM]])
// CHECK-NEXT: %f_q = "nn.reshape"(%g_q) {shape = [1, 4]}
// CHECK: %[[ACC2:[0-9]+]] = "quant.dense"(%f_q, %w2)
// CHECK-NEXT: %d_q = "quant.requantize"(%[[ACC2]])
// CHECK-NEXT: %sd = "quant.dequantize"(%d_q)
// CHECK-NEXT: %sm = "nn.softmax"(%sd)
// CHECK-NEXT: %sm_q = "quant.quantize"(%sm)
// CHECK-NEXT: %ssm = "quant.dequantize"(%sm_q)
// CHECK-NEXT: return %ssm

// -----

// Average pooling (an exact window sum, then one requantize), transpose on the
// integers, and two quantize(dequantize) to new types, which fold into one
// requantize: one rounding instead of two, so a result may move by one code (0.04).
// EQUIV: atol=0.041
module {
  func.func @main(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x2x2xf32>) {
    %q = "quant.quantize"(%x) : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4x!quant.uniform<i8:f32, 0.03:3>>
    %d = "quant.dequantize"(%q) : (tensor<1x1x4x4x!quant.uniform<i8:f32, 0.03:3>>) -> tensor<1x1x4x4xf32>
    %p = "nn.avg_pool"(%d) {ceil_mode = false, count_include_pad = false, kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
    %pq = "quant.quantize"(%p) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>
    %pd = "quant.dequantize"(%pq) : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x1x2x2xf32>
    %t = "nn.transpose"(%pd) {perm = [0, 1, 3, 2]} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
    %tq = "quant.quantize"(%t) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>
    %td = "quant.dequantize"(%tq) : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x1x2x2xf32>
    %a = "quant.quantize"(%td) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.05:-10>>
    %ad = "quant.dequantize"(%a) : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.05:-10>>) -> tensor<1x1x2x2xf32>
    %b = "quant.quantize"(%ad) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.04:1>>
    %bd = "quant.dequantize"(%b) : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.04:1>>) -> tensor<1x1x2x2xf32>
    return %bd : tensor<1x1x2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %q = "quant.quantize"(%x)
// CHECK-NEXT: %[[SUM:[0-9]+]] = "quant.avg_pool"(%q) {ceil_mode = false, count_include_pad = false, kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x1x4x4x!quant.uniform<i8:f32, 0.03:3>>) -> tensor<1x1x2x2x!quant.uniform<i32:f32, 0.0075:0>>
// CHECK-NEXT: %pq = "quant.requantize"(%[[SUM]])
// CHECK-NEXT: %[[T:[0-9a-z_]+]] = "nn.transpose"(%pq) {perm = [0, 1, 3, 2]} : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>
// CHECK-NEXT: %b = "quant.requantize"(%[[T]]) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824], shift = [0]} : (tensor<1x1x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.04:1>>
// CHECK-NOT: quant.requantize
// CHECK-NEXT: %bd = "quant.dequantize"(%b)
// CHECK-NEXT: return %bd

// -----

// A round trip to another type and back folds into an identity requantize, which
// disappears; quantize(dequantize(x)) to x's own type is x. (The folded graph skips
// the trip's two roundings: at most half a 0.05 step plus half a 0.02 step apart.)
// EQUIV: atol=0.035
module {
  func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
    %q = "quant.quantize"(%x) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.02:0>>
    %d = "quant.dequantize"(%q) : (tensor<4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<4xf32>
    %a = "quant.quantize"(%d) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.05:-10>>
    %ad = "quant.dequantize"(%a) : (tensor<4x!quant.uniform<i8:f32, 0.05:-10>>) -> tensor<4xf32>
    %b = "quant.quantize"(%ad) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.02:0>>
    %bd = "quant.dequantize"(%b) : (tensor<4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<4xf32>
    %c = "quant.quantize"(%bd) : (tensor<4xf32>) -> tensor<4x!quant.uniform<i8:f32, 0.02:0>>
    %cd = "quant.dequantize"(%c) : (tensor<4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<4xf32>
    return %cd : tensor<4xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %q = "quant.quantize"(%x)
// CHECK-NEXT: %cd = "quant.dequantize"(%q)
// CHECK-NEXT: return %cd

// -----
// Average pooling without counted padding (count_include_pad = false): windows of 4
// and 6 positions; quant.avg_pool_valid sums each window and requantizes it with the
// multiplier of its count, s_in / (n * s_out): 0.018937 / (4 * 0.007264) = 0.6517 is
// 1399551683 * 2^(0 - 31).
module {
  func.func @main(%x: tensor<1x2x3x4xf32>) -> (tensor<1x2x2x4xf32> {qcc.name = "avg"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2x3x4xf32>) -> tensor<1x2x3x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>
    %x_dq = "quant.dequantize"(%x_q) : (tensor<1x2x3x4x!quant.uniform<i8:f32, 0.018937260496850107:15>>) -> tensor<1x2x3x4xf32>
    %avg = "nn.avg_pool"(%x_dq) {ceil_mode = false, count_include_pad = false, kernel = [3, 3], pads = [1, 1, 1, 1], strides = [2, 1]} : (tensor<1x2x3x4xf32>) -> tensor<1x2x2x4xf32>
    %avg_q = "quant.quantize"(%avg) : (tensor<1x2x2x4xf32>) -> tensor<1x2x2x4x!quant.uniform<i8:f32, 0.007264372180489933:15>>
    %avg_dq = "quant.dequantize"(%avg_q) : (tensor<1x2x2x4x!quant.uniform<i8:f32, 0.007264372180489933:15>>) -> tensor<1x2x2x4xf32>
    return %avg_dq : tensor<1x2x2x4xf32>
  }
}
// CHECK: %avg_q = "quant.avg_pool_valid"(%x_q) {ceil_mode = false, clamp_max = 127, clamp_min = -128, count_include_pad = false, counts = [4, 6], kernel = [3, 3], multiplier = [1399551683, 1866068911], pads = [1, 1, 1, 1], shift = [0, -1], strides = [2, 1]}
// CHECK-NOT: "nn.avg_pool"
// -----
// EQUIV: atol=0.011
// PRelu by one slope per channel (a negative one and zero among them) becomes
// quant.prelu: TFLite's int8 PRELU, s_in / s_out = 2 at or above the zero point and
// 2 * |slope| per channel below it, the multiplier negated for the negative slope.
module {
  func.func @main(%x: tensor<1x3x2x2xf32>) -> (tensor<1x3x2x2xf32>) {
    %x_q = "quant.quantize"(%x) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2x!quant.uniform<i8:f32, 0.02:0>>
    %sx = "quant.dequantize"(%x_q) : (tensor<1x3x2x2x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x3x2x2xf32>
    %slope = "nn.constant"() {value = dense<[[[0.25]], [[-0.5]], [[0.0]]]> : tensor<3x1x1xf32>} : () -> tensor<3x1x1xf32>
    %p = "nn.prelu"(%sx, %slope) : (tensor<1x3x2x2xf32>, tensor<3x1x1xf32>) -> tensor<1x3x2x2xf32>
    %p_q = "quant.quantize"(%p) : (tensor<1x3x2x2xf32>) -> tensor<1x3x2x2x!quant.uniform<i8:f32, 0.01:-20>>
    %sp = "quant.dequantize"(%p_q) : (tensor<1x3x2x2x!quant.uniform<i8:f32, 0.01:-20>>) -> tensor<1x3x2x2xf32>
    return %sp : tensor<1x3x2x2xf32>
  }
}
// CHECK: %p_q = "quant.prelu"(%x_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824], negative_multiplier = [1073741824, -1073741824, 0], negative_shift = [0, 1, 0], shift = [2], slope = [0.25, -0.5, 0.0]}
// CHECK-NOT: "nn.prelu"
