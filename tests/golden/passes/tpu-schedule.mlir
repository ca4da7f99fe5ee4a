// RUN: -p tpu-schedule
// EQUIV: exact
// Barriers and weight prefetch: a host sync after the input transfers, a units sync
// before every layer and before the output transfers, a host sync after them. A
// layer's first weight tiles (up to the weight FIFO depth, 4 on tpu-v1) are read
// before its barrier: the sync's prefetch lists them, the layer's prefetched counts
// them.
// A small CNN, planned.
module {
  func.func @main(%x: tensor<2x3x4x4xf32>) -> (tensor<2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x3x4x4xf32>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>
    %x_q_1 = "tpu.read_host"(%x_q) {host = 0, tensor = "x", ub = 0} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>
    %w1 = "nn.constant"() {value = dense<"0x291B1EB528CF42377FF1B9362EF14525C5F2EDFE0CE1F920FFF6F4FE930DC70AAD3A11B412D76D20D511024A1922C2327F29020ECC0FC007ECD128A802B2767F397A2926EACD0CE3E932FCA3F7D5F2C04F5CCF211FD108452B4FCCE0111304F1EFE618814EEABF1CC014EF1E"> : tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>} : () -> tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>
    %r1_q_bias = "nn.constant"() {value = dense<[1674, 3255, -1158, -481]> : tensor<4xi32>} : () -> tensor<4xi32>
    %r1_q = "tpu.conv2d"(%x_q_1, %w1, %r1_q_bias) {acc = [0], clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1179934799, 1946454772, 1842338575, 1219009080], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-6, -7, -7, -6], slots = [0], strides = [1, 1], tables = [0], taps_per_row = 9, tiles = [1], ub = 32, weight_tile = 0} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>, tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>, tensor<4xi32>) -> tensor<2x4x4x4x!quant.uniform<i8:f32, 0.017440169465308096:-128>>
    %p_q = "tpu.pool"(%r1_q) {clamp_max = 0, clamp_min = 0, dilations = [1, 1], kernel = [2, 2], kind = "max", multiplier = [], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [], strides = [2, 2], ub = 0} : (tensor<2x4x4x4x!quant.uniform<i8:f32, 0.017440169465308096:-128>>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>
    %w2 = "nn.constant"() {value = dense<[[[[3]], [[-127]], [[59]], [[16]]], [[[-118]], [[113]], [[127]], [[-116]]], [[[60]], [[127]], [[86]], [[-93]]], [[[-127]], [[-8]], [[-43]], [[2]]]]> : tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>} : () -> tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>
    %c2_q_bias = "nn.constant"() {value = dense<[-6272, 768, 23040, -22528]> : tensor<4xi32>} : () -> tensor<4xi32>
    %c2_q = "tpu.conv2d"(%p_q, %w2, %c2_q_bias) {acc = [2048], clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1861686167, 1903334559, 1745422390, 1846031882], n_tiles = 1, pads = [0, 0, 0, 0], row_chunk = 2048, shift = [-8, -8, -8, -8], slots = [1], strides = [1, 1], tables = [1], taps_per_row = 1, tiles = [1], ub = 8, weight_tile = 1} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>, tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>, tensor<4xi32>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.01670865825578278:7>>
    %res_q = "tpu.add"(%p_q, %c2_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 2057409503, 1540247611], shift = [0, -1, -19], slots = [2], tables = [2], ub = 16} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>, tensor<2x4x2x2x!quant.uniform<i8:f32, 0.01670865825578278:7>>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.024315881729125976:-86>>
    %g_q = "tpu.pool"(%res_q) {acc = [0], clamp_max = 127, clamp_min = -128, dilations = [1, 1], kernel = [2, 2], kind = "avg", multiplier = [2086344573], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [-1], slots = [3], strides = [1, 1], tables = [3], ub = 0} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.024315881729125976:-86>>) -> tensor<2x4x1x1x!quant.uniform<i8:f32, 0.012514222018858965:-111>>
    %f_q = "tpu.reshape"(%g_q) {ub = 0} : (tensor<2x4x1x1x!quant.uniform<i8:f32, 0.012514222018858965:-111>>) -> tensor<2x4x!quant.uniform<i8:f32, 0.012514222018858965:-111>>
    %w3 = "nn.constant"() {value = dense<[[-10, 24, -127], [-19, 127, -24], [110, 13, 59], [-127, 23, -6]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>} : () -> tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>
    %y_q_bias = "nn.constant"() {value = dense<[4578, 27785, -6849]> : tensor<3xi32>} : () -> tensor<3xi32>
    %y_q = "tpu.matmul"(%f_q, %w3, %y_q_bias) {acc = [2048], clamp_max = 127, clamp_min = -128, k_tiles = 1, multiplier = [2038944670, 1729069888, 1218955943], n_tiles = 1, row_chunk = 2048, shift = [-9, -7, -9], slots = [4], tables = [4], ub = 2, weight_tile = 2} : (tensor<2x4x!quant.uniform<i8:f32, 0.012514222018858965:-111>>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>, tensor<3xi32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>
    %y_q_1 = "tpu.write_host"(%y_q) {host = 96, tensor = "y"} : (tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>
    %y_dq = "quant.dequantize"(%y_q_1) : (tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>) -> tensor<2x3xf32>
    return %y_dq : tensor<2x3xf32>
  }
}
// CHECK: "tpu.read_host"
// CHECK-NEXT: "tpu.sync"() {kind = "host", prefetch = []}
// CHECK: "tpu.sync"() {kind = "units", prefetch = [0]}
// CHECK-NEXT: %r1_q = "tpu.conv2d"
// CHECK-SAME: prefetched = 1,
// CHECK-NEXT: "tpu.sync"() {kind = "units", prefetch = []}
// CHECK-NEXT: %p_q = "tpu.pool"
// CHECK: "tpu.sync"() {kind = "units", prefetch = [1]}
// CHECK-NEXT: %c2_q = "tpu.conv2d"
// CHECK-SAME: prefetched = 1,
// CHECK-NEXT: "tpu.sync"() {kind = "units", prefetch = []}
// CHECK-NEXT: %res_q = "tpu.add"
// CHECK-NEXT: "tpu.sync"() {kind = "units", prefetch = []}
// CHECK-NEXT: %g_q = "tpu.pool"
// CHECK-NEXT: "tpu.sync"() {kind = "units", prefetch = []}
// CHECK-NEXT: %f_q = "tpu.reshape"
// CHECK: "tpu.sync"() {kind = "units", prefetch = [2]}
// CHECK-NEXT: %y_q = "tpu.matmul"
// CHECK-NEXT: "tpu.sync"() {kind = "units", prefetch = []}
// CHECK-NEXT: "tpu.write_host"
// CHECK-NEXT: "tpu.sync"() {kind = "host", prefetch = []}
// CHECK-NEXT: "quant.dequantize"

// -----

// K = 1100: five K tiles, the first four (the FIFO depth) prefetched.
module {
  func.func @main(%x: tensor<1x1100xf32>) -> (tensor<1x1xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x1100xf32>) -> tensor<1x1100x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %x_q_1 = "tpu.read_host"(%x_q) {host = 0, tensor = "x", ub = 0} : (tensor<1x1100x!quant.uniform<i8:f32, 0.027315523110184016:15>>) -> tensor<1x1100x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %w = "nn.constant"() {value = dense<"0x1FD8063FFFE709FAF7F250DEF0EA33F6350800C6311711FCF0CE270CF2E805FD4320E9D5F7DC04111A12F919DDFE220DCED3C049C3FC4B2C36ED1F7B0012F5011039DDC8020A3A1EE8182E0DF41DF3B737CEF4F5F4F6C81602032C2D374B13C40A0204E9DE2128D417FAF21DFFEB03B1E9EFC9080CE9FA1C2BE20E2AFFE2E2F3D751E90F081AF1CC42FD0508331F2F21060AE2B2F6D5683E2FEA52BCD0E1DA05084D283111FAE5C4DDF11FBDC909D60DF0E2CBFCE3E8E70806BBFA102A1F08D2E125E42933D512FC5122EC10DBFA08060CDCB6F1DCE4562FF9C7CC0E2BF4050A2BB506102610D4E9C3080814D9D23D074612C52031EEB31BFA0B941292DD23B7B5EE4241E828170A0EE3202A6C259ED00D03B5FAF1FEFB253A1BD3DDE5FEEFF2DB262226FD12DBD7EA17FAD2041106E502EFF3FC1E493E19F0F4F52E910AB00035DCA5343C1432E02F441A0B332DE2361E0634251EEC21D4FBBCBC12FD03180EDD03FDEBFBF1E6F30953DF15C540F3063328C416F719061D0CFA2FC2EFDAFAEFFAECEDBEFE0CE8E6E6430810F4ECDD3EBC0CFFF6C1CF27E4231B171ED0ED1BCD43EAFDD70FE3F6D230BF120912D72927060DFA1ADF1610C897FBFA3102ECCAFCE9D4FB2A04D60DD4C114EA2D0CE00934F8D6E6DFD1CC112CF21F2443F9F211040C34EF09D9FAE5E2F7EE0F20C428A70A1CE6F7E12481D9B20834301B0AE13119DECDE72B3241E1F237091FCBF1FFF2EFBF4106C62B031DF9E1E20E20141A310C292D0DFEF0D1C33601EB4128042AFA104B2CF71E31FDF24DF7CE085F1C2AADEE35F439181548F1F20A0EC1370FFF1EF6360822E2FA14E0EB033224291129430C171CB5011623F82CEBFE48CF01FF01EF1ED9CF17D41305E8F60015EAFBCAF8B601F15636FC280ED4A12E11B41B26E621BDF90321110A18E73CF42101F71913372CEA1505E1D50BECCAFD0A05D1EA38E2F45D0FEDB30DC900DEBE43FC251EE304F22712F2431513E111C613DB07F5090EFEFEC4B43317C54CE314110418C9FFF604F5E6E323DE0F0EFC1116EB0D4CD5F4E14FC80025DDFBE3CAFD14F0071B30CF18E7B5E11A0CD44010FDEA11F02D0D19F4C515D8FCFFE123C73CE82634DEE3250703B7BF1539E4DE081216EEB33AEC32B10FECD52733E91AD5E7F6F219D02626F7D1A1FDE404D600FE000B0C27E11D06EFD93A0AEC0300EBC906FAF527CCDA0621181DA914111BE51428400ACC021A154CF8D8E71AE1D7DF300AF3221CDA210AAFD20B14F5D90AB817FBFFE721A4DE18E53B12E32DFD18E9E91D05E3DF1B47E01C8FCB1C4104170C2AD71BF1F502FAE4F8DD3D1EF2413515ED0C1939FBEC5D390EDE152E2023042FEAF1EEE94FBF0BDBD106C4FE5DFD14E015C709FD58FEF3EBD1203BF21DF31113C8E226B501F3DC030D169843ED2AFCE9FE7F3FF2092D1704F9D51E2C59EA1AFF32FCE6BD1D072DEA68E415112CFADBD921040EDF060919C5E145F0FDF0C4D50FE551C4B2F0D037EF15C71A193109140625EF15E91CF5E6E43BC1C419D8EDEC5BE5E3F009"> : tensor<1100x1x!quant.uniform<i8<-127:127>:f32, 0.0007493309383317242:0>>} : () -> tensor<1100x1x!quant.uniform<i8<-127:127>:f32, 0.0007493309383317242:0>>
    %y_q_bias = "nn.constant"() {value = dense<[-11085]> : tensor<1xi32>} : () -> tensor<1xi32>
    %y_q = "tpu.matmul"(%x_q_1, %w, %y_q_bias) {acc = [0], clamp_max = 127, clamp_min = -128, k_tiles = 5, multiplier = [1303520775], n_tiles = 1, row_chunk = 2048, shift = [-8], slots = [0], tables = [0], ub = 5, weight_tile = 0} : (tensor<1x1100x!quant.uniform<i8:f32, 0.027315523110184016:15>>, tensor<1100x1x!quant.uniform<i8<-127:127>:f32, 0.0007493309383317242:0>>, tensor<1xi32>) -> tensor<1x1x!quant.uniform<i8:f32, 0.008632469644733503:-35>>
    %y_q_1 = "tpu.write_host"(%y_q) {host = 1100, tensor = "y"} : (tensor<1x1x!quant.uniform<i8:f32, 0.008632469644733503:-35>>) -> tensor<1x1x!quant.uniform<i8:f32, 0.008632469644733503:-35>>
    %y_dq = "quant.dequantize"(%y_q_1) : (tensor<1x1x!quant.uniform<i8:f32, 0.008632469644733503:-35>>) -> tensor<1x1xf32>
    return %y_dq : tensor<1x1xf32>
  }
}
// CHECK: "tpu.sync"() {kind = "units", prefetch = [0, 1, 2, 3]}
// CHECK-NEXT: %y_q = "tpu.matmul"
// CHECK-SAME: k_tiles = 5,
// CHECK-SAME: prefetched = 4,

// -----

// Two passes of packed taps: both tiles prefetched.
module {
  func.func @main(%x: tensor<1x100x2x3xf32>) -> (tensor<1x1x2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x100x2x3xf32>) -> tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %x_q_1 = "tpu.read_host"(%x_q) {host = 0, tensor = "x", ub = 0} : (tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>) -> tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>
    %w = "nn.constant"() {value = dense<"0xBFE22AF3E506C8D314F4EE0DE9E5EE1802D0F41A4BD20DF621123B15EAEB10106043D10ECBBE1E16D742D9D11A09FAFD09FAF9B4CB18E41631F20B531C493D1EFCDED41313F922E82C02FF00FC63C007321DF445D5CC17C6A1231E1DED07DA45201EB2203C301F00F2180F09F443D1FFE92939321EC85315FC01F2110CF29AFF1315FA1229ED3AB2CEDC9FD8323104450AEC0AFB1DC428EE22C3EF0324CF4213EB31042E5D1FEBEF170BDFE51B5E971DF81F2302D8C8B531F8EAF5CB0C352DC236E2B4CFD900D7C4F54DE413036AB42CCDE8FC7FE2B534DFF6FF04F90B0F22EFE2D618FE161543081ED0D5F4D01BCB039ED4F2F6B904271AE6E9D11939EBBC081C9306562116102ADADE10E50AB41E22020741D5DCD4EFD801E6C6C230FDF701FD1E16E8DFD5CE38DBB0DEE1"> : tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>} : () -> tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>
    %y_q_bias = "nn.constant"() {value = dense<[4155]> : tensor<1xi32>} : () -> tensor<1xi32>
    %y_q = "tpu.conv2d"(%x_q_1, %w, %y_q_bias) {acc = [0], clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1968779674], n_tiles = 1, pads = [0, 1, 0, 1], row_chunk = 2048, shift = [-8], slots = [0], strides = [1, 1], tables = [0], taps_per_row = 2, tiles = [2], ub = 6, weight_tile = 0} : (tensor<1x100x2x3x!quant.uniform<i8:f32, 0.027315523110184016:15>>, tensor<1x100x1x3x!quant.uniform<i8<-127:127>:f32:0, {0.001254364613472946:0}>>, tensor<1xi32>) -> tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>
    %y_q_1 = "tpu.write_host"(%y_q) {host = 600, tensor = "y"} : (tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>) -> tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>
    %y_dq = "quant.dequantize"(%y_q_1) : (tensor<1x1x2x3x!quant.uniform<i8:f32, 0.009567666521259382:-4>>) -> tensor<1x1x2x3xf32>
    return %y_dq : tensor<1x1x2x3xf32>
  }
}
// CHECK: "tpu.sync"() {kind = "units", prefetch = [0, 1]}
// CHECK-NEXT: %y_q = "tpu.conv2d"
// CHECK-SAME: prefetched = 2,
// CHECK-SAME: tiles = [2]
