// RUN: -p quantize
// EQUIV: atol=0.1
// Ops that only move or select values inherit their input's quantization: the max
// pool and the flatten after it get exactly the ReLU's type, not one from their own
// calibrated ranges (which differ here), so fold-rescale needs no requantize there.
module {
  func.func @main(%x: tensor<1x2x4x4xf32>) -> (tensor<1x3xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %w = "nn.constant"() {value = dense<[[[[1.0]], [[-0.5]]], [[[0.5]], [[1.0]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
    %c = "nn.conv2d"(%sx, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x4x4xf32>
    %sc = "quant.stats"(%c) {max = 6.0, min = -6.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %r = "nn.relu"(%sc) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %sr = "quant.stats"(%r) {max = 6.0, min = 0.0} : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
    %p = "nn.max_pool"(%sr) {ceil_mode = false, dilations = [1, 1], kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x2x4x4xf32>) -> tensor<1x2x2x2xf32>
    %sp = "quant.stats"(%p) {max = 4.8, min = 0.4} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %f = "nn.reshape"(%sp) {shape = [1, 8]} : (tensor<1x2x2x2xf32>) -> tensor<1x8xf32>
    %sf = "quant.stats"(%f) {max = 4.4, min = 0.8} : (tensor<1x8xf32>) -> tensor<1x8xf32>
    %w2 = "nn.constant"() {value = dense<0.25> : tensor<8x3xf32>} : () -> tensor<8x3xf32>
    %d = "nn.dense"(%sf, %w2) : (tensor<1x8xf32>, tensor<8x3xf32>) -> tensor<1x3xf32>
    %sd = "quant.stats"(%d) {max = 12.0, min = 0.0} : (tensor<1x3xf32>) -> tensor<1x3xf32>
    return %sd : tensor<1x3xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %r_q = "quant.quantize"(%r) : (tensor<1x2x4x4xf32>) -> tensor<1x2x4x4x!quant.uniform<i8:f32, 0.023529411764705882:-128>>
// CHECK: %p = "nn.max_pool"(%r_dq)
// CHECK-NEXT: %p_q = "quant.quantize"(%p) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, 0.023529411764705882:-128>>
// CHECK-NEXT: %p_dq = "quant.dequantize"(%p_q)
// CHECK-NEXT: %f = "nn.reshape"(%p_dq)
// CHECK-NEXT: %f_q = "quant.quantize"(%f) : (tensor<1x8xf32>) -> tensor<1x8x!quant.uniform<i8:f32, 0.023529411764705882:-128>>

// -----

// Concat. Inputs read only by the concat take the concat's type (from its own
// range), so their producers write its codes directly and the concat has that type
// (%c1, %c2 -> %a; %c3 -> %b). A max pool keeps its input's type (inherited) and a
// tensor read by other ops keeps its own: the second concat then has its own type
// and fold-rescale requantizes those two inputs.
module {
  func.func @main(%x: tensor<1x2x2x2xf32>, %y: tensor<1x2x2x2xf32>) -> (tensor<1x4x2x2xf32>, tensor<1x6x2x2xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %sy = "quant.stats"(%y) {max = 6.0, min = -4.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %w = "nn.constant"() {value = dense<[[[[1.0]], [[-0.5]]], [[[0.5]], [[1.0]]]]> : tensor<2x2x1x1xf32>} : () -> tensor<2x2x1x1xf32>
    %c1 = "nn.conv2d"(%sx, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc1 = "quant.stats"(%c1) {max = 6.0, min = -6.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %c2 = "nn.conv2d"(%sy, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc2 = "quant.stats"(%c2) {max = 9.0, min = -6.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %a = "nn.concat"(%sc1, %sc2) {axis = 1} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x4x2x2xf32>
    %sa = "quant.stats"(%a) {max = 9.0, min = -6.0} : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2xf32>
    %p = "nn.max_pool"(%sx) {ceil_mode = false, dilations = [1, 1], kernel = [1, 1], pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %sp = "quant.stats"(%p) {max = 3.6, min = -3.2} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %c3 = "nn.conv2d"(%sy, %w) {dilations = [1, 1], group = 1, pads = [0, 0, 0, 0], strides = [1, 1]} : (tensor<1x2x2x2xf32>, tensor<2x2x1x1xf32>) -> tensor<1x2x2x2xf32>
    %sc3 = "quant.stats"(%c3) {max = 8.0, min = -9.0} : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32>
    %b = "nn.concat"(%sc3, %sp, %sx) {axis = 1} : (tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>, tensor<1x2x2x2xf32>) -> tensor<1x6x2x2xf32>
    %sb = "quant.stats"(%b) {max = 9.5, min = -9.0} : (tensor<1x6x2x2xf32>) -> tensor<1x6x2x2xf32>
    return %sa, %sb : tensor<1x4x2x2xf32>, tensor<1x6x2x2xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK-NEXT: %x_q = "quant.quantize"(%x) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, [[SX:0.03137254901960784:0]]>>
// CHECK: %c1_q = "quant.quantize"(%c1) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, [[SA:0.058823529411764705:-26]]>>
// CHECK: %c2_q = "quant.quantize"(%c2) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, [[SA]]>>
// CHECK: %a_q = "quant.quantize"(%a) : (tensor<1x4x2x2xf32>) -> tensor<1x4x2x2x!quant.uniform<i8:f32, [[SA]]>>
// CHECK: %p_q = "quant.quantize"(%p) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, [[SX]]>>
// CHECK: %c3_q = "quant.quantize"(%c3) : (tensor<1x2x2x2xf32>) -> tensor<1x2x2x2x!quant.uniform<i8:f32, [[SB:0.07254901960784314:-4]]>>
// CHECK: %b_q = "quant.quantize"(%b) : (tensor<1x6x2x2xf32>) -> tensor<1x6x2x2x!quant.uniform<i8:f32, [[SB]]>>

// -----

// Slice, nearest resize and zero padding copy values: they inherit. Average pooling
// (arithmetic) and linear resize (new values) keep their own ranges.
module {
  func.func @main(%x: tensor<1x1x4x4xf32>) -> (tensor<1x1x2x4xf32>, tensor<1x1x8x8xf32>, tensor<1x1x6x6xf32>, tensor<1x1x2x2xf32>, tensor<1x1x8x8xf32>) {
    %sx = "quant.stats"(%x) {max = 4.0, min = -4.0} : (tensor<1x1x4x4xf32>) -> tensor<1x1x4x4xf32>
    %s = "nn.slice"(%sx) {ends = [1, 1, 2, 4], starts = [0, 0, 0, 0], steps = [1, 1, 1, 1]} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x4xf32>
    %ss = "quant.stats"(%s) {max = 2.8, min = -3.0} : (tensor<1x1x2x4xf32>) -> tensor<1x1x2x4xf32>
    %u = "nn.resize"(%sx) {coordinate_mode = "asymmetric", mode = "nearest", nearest_mode = "floor", scales = [1.0, 1.0, 2.0, 2.0], sizes = [1, 1, 8, 8]} : (tensor<1x1x4x4xf32>) -> tensor<1x1x8x8xf32>
    %su = "quant.stats"(%u) {max = 3.2, min = -3.2} : (tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xf32>
    %z = "nn.pad"(%sx) {pads = [0, 0, 1, 1, 0, 0, 1, 1], value = 0.0} : (tensor<1x1x4x4xf32>) -> tensor<1x1x6x6xf32>
    %sz = "quant.stats"(%z) {max = 3.6, min = -3.6} : (tensor<1x1x6x6xf32>) -> tensor<1x1x6x6xf32>
    %v = "nn.avg_pool"(%sx) {ceil_mode = false, count_include_pad = true, kernel = [2, 2], pads = [0, 0, 0, 0], strides = [2, 2]} : (tensor<1x1x4x4xf32>) -> tensor<1x1x2x2xf32>
    %sv = "quant.stats"(%v) {max = 2.5, min = -2.5} : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2xf32>
    %l = "nn.resize"(%sx) {coordinate_mode = "asymmetric", mode = "linear", scales = [1.0, 1.0, 2.0, 2.0], sizes = [1, 1, 8, 8]} : (tensor<1x1x4x4xf32>) -> tensor<1x1x8x8xf32>
    %sl = "quant.stats"(%l) {max = 4.4, min = -4.4} : (tensor<1x1x8x8xf32>) -> tensor<1x1x8x8xf32>
    return %ss, %su, %sz, %sv, %sl : tensor<1x1x2x4xf32>, tensor<1x1x8x8xf32>, tensor<1x1x6x6xf32>, tensor<1x1x2x2xf32>, tensor<1x1x8x8xf32>
  }
}
// CHECK-LABEL: func.func @main
// CHECK: %s_q = "quant.quantize"(%s) : (tensor<1x1x2x4xf32>) -> tensor<1x1x2x4x!quant.uniform<i8:f32, 0.03137254901960784:0>>
// CHECK: %u_q = "quant.quantize"(%u) : (tensor<1x1x8x8xf32>) -> tensor<1x1x8x8x!quant.uniform<i8:f32, 0.03137254901960784:0>>
// CHECK: %z_q = "quant.quantize"(%z) : (tensor<1x1x6x6xf32>) -> tensor<1x1x6x6x!quant.uniform<i8:f32, 0.03137254901960784:0>>
// CHECK: %v_q = "quant.quantize"(%v) : (tensor<1x1x2x2xf32>) -> tensor<1x1x2x2x!quant.uniform<i8:f32, 0.0196078431372549:0>>
// CHECK: %l_q = "quant.quantize"(%l) : (tensor<1x1x8x8xf32>) -> tensor<1x1x8x8x!quant.uniform<i8:f32, 0.03450980392156863:-1>>
