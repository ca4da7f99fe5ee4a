// RUN: -p tpu-plan-memory
// EQUIV: exact
// Placements as attributes: ub (first Unified Buffer row of a result; first fit over
// liveness, a tpu.reshape shares its operand's rows), acc (accumulator half of every
// row chunk, alternating over the program), weight_tile (first tile in the weight
// image), tables / slots (table records and the slot each is loaded into, round robin
// over the target's 8 slots), host (byte offset of a transfer).
// A small CNN, lowered.
module {
  func.func @main(%x: tensor<2x3x4x4xf32>) -> (tensor<2x3xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<2x3x4x4xf32>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>
    %x_q_1 = "tpu.read_host"(%x_q) {tensor = "x"} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>) -> tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>
    %w1 = "nn.constant"() {value = dense<"0x291B1EB528CF42377FF1B9362EF14525C5F2EDFE0CE1F920FFF6F4FE930DC70AAD3A11B412D76D20D511024A1922C2327F29020ECC0FC007ECD128A802B2767F397A2926EACD0CE3E932FCA3F7D5F2C04F5CCF211FD108452B4FCCE0111304F1EFE618814EEABF1CC014EF1E"> : tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>} : () -> tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>
    %r1_q_bias = "nn.constant"() {value = dense<[1674, 3255, -1158, -481]> : tensor<4xi32>} : () -> tensor<4xi32>
    %r1_q = "tpu.conv2d"(%x_q_1, %w1, %r1_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1179934799, 1946454772, 1842338575, 1219009080], n_tiles = 1, pads = [1, 1, 1, 1], row_chunk = 2048, shift = [-6, -7, -7, -6], strides = [1, 1], taps_per_row = 9, tiles = [1]} : (tensor<2x3x4x4x!quant.uniform<i8:f32, 0.024205386404897652:0>>, tensor<4x3x3x3x!quant.uniform<i8<-127:127>:f32:0, {0.0061856714759286:0, 0.005102031812893124:0, 0.004829123264222633:0, 0.006390513866905152:0}>>, tensor<4xi32>) -> tensor<2x4x4x4x!quant.uniform<i8:f32, 0.017440169465308096:-128>>
    %p_q = "tpu.pool"(%r1_q) {clamp_max = 0, clamp_min = 0, dilations = [1, 1], kernel = [2, 2], kind = "max", multiplier = [], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [], strides = [2, 2]} : (tensor<2x4x4x4x!quant.uniform<i8:f32, 0.017440169465308096:-128>>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>
    %w2 = "nn.constant"() {value = dense<[[[[3]], [[-127]], [[59]], [[16]]], [[[-118]], [[113]], [[127]], [[-116]]], [[[60]], [[127]], [[86]], [[-93]]], [[[-127]], [[-8]], [[-43]], [[2]]]]> : tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>} : () -> tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>
    %c2_q_bias = "nn.constant"() {value = dense<[-6272, 768, 23040, -22528]> : tensor<4xi32>} : () -> tensor<4xi32>
    %c2_q = "tpu.conv2d"(%p_q, %w2, %c2_q_bias) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], group = 1, k_tiles = 1, multiplier = [1861686167, 1903334559, 1745422390, 1846031882], n_tiles = 1, pads = [0, 0, 0, 0], row_chunk = 2048, shift = [-8, -8, -8, -8], strides = [1, 1], taps_per_row = 1, tiles = [1]} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>, tensor<4x4x1x1x!quant.uniform<i8<-127:127>:f32:0, {0.0032443486330077406:0, 0.0033169290212195688:0, 0.0030417364882671925:0, 0.0032170680094891647:0}>>, tensor<4xi32>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.01670865825578278:7>>
    %res_q = "tpu.add"(%p_q, %c2_q) {clamp_max = 127, clamp_min = -128, multiplier = [1073741824, 2057409503, 1540247611], shift = [0, -1, -19]} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.017440169465308096:-128>>, tensor<2x4x2x2x!quant.uniform<i8:f32, 0.01670865825578278:7>>) -> tensor<2x4x2x2x!quant.uniform<i8:f32, 0.024315881729125976:-86>>
    %g_q = "tpu.pool"(%res_q) {clamp_max = 127, clamp_min = -128, dilations = [1, 1], kernel = [2, 2], kind = "avg", multiplier = [2086344573], pads = [0, 0, 0, 0], row_chunk = 2048, shift = [-1], strides = [1, 1]} : (tensor<2x4x2x2x!quant.uniform<i8:f32, 0.024315881729125976:-86>>) -> tensor<2x4x1x1x!quant.uniform<i8:f32, 0.012514222018858965:-111>>
    %f_q = "tpu.reshape"(%g_q) : (tensor<2x4x1x1x!quant.uniform<i8:f32, 0.012514222018858965:-111>>) -> tensor<2x4x!quant.uniform<i8:f32, 0.012514222018858965:-111>>
    %w3 = "nn.constant"() {value = dense<[[-10, 24, -127], [-19, 127, -24], [110, 13, 59], [-127, 23, -6]]> : tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>} : () -> tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>
    %y_q_bias = "nn.constant"() {value = dense<[4578, 27785, -6849]> : tensor<3xi32>} : () -> tensor<3xi32>
    %y_q = "tpu.matmul"(%f_q, %w3, %y_q_bias) {clamp_max = 127, clamp_min = -128, k_tiles = 1, multiplier = [2038944670, 1729069888, 1218955943], n_tiles = 1, row_chunk = 2048, shift = [-9, -7, -9]} : (tensor<2x4x!quant.uniform<i8:f32, 0.012514222018858965:-111>>, tensor<4x3x!quant.uniform<i8<-127:127>:f32:1, {0.002088507798713023:0, 0.00708440204304973:0, 0.001248586600221048:0}>>, tensor<3xi32>) -> tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>
    %y_q_1 = "tpu.write_host"(%y_q) {tensor = "y"} : (tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>) -> tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>
    %y_dq = "quant.dequantize"(%y_q_1) : (tensor<2x3x!quant.uniform<i8:f32, 0.014094002457226024:-116>>) -> tensor<2x3xf32>
    return %y_dq : tensor<2x3xf32>
  }
}
// CHECK: "tpu.read_host"(%x_q) {host = 0, tensor = "x", ub = 0}
// CHECK: %r1_q = "tpu.conv2d"(%x_q_1, %w1, %r1_q_bias) {acc = [0],
// CHECK-SAME: slots = [0],
// CHECK-SAME: tables = [0],
// CHECK-SAME: ub = 32, weight_tile = 0}
// CHECK: %p_q = "tpu.pool"(%r1_q)
// CHECK-SAME: ub = 0}
// CHECK: %c2_q = "tpu.conv2d"(%p_q, %w2, %c2_q_bias) {acc = [2048],
// CHECK-SAME: slots = [1],
// CHECK-SAME: tables = [1],
// CHECK-SAME: ub = 8, weight_tile = 1}
// CHECK: %res_q = "tpu.add"(%p_q, %c2_q)
// CHECK-SAME: slots = [2], tables = [2], ub = 16}
// CHECK: %g_q = "tpu.pool"(%res_q) {acc = [0],
// CHECK-SAME: slots = [3],
// CHECK-SAME: tables = [3], ub = 0}
// CHECK: %f_q = "tpu.reshape"(%g_q) {ub = 0}
// CHECK: %y_q = "tpu.matmul"(%f_q, %w3, %y_q_bias) {acc = [2048],
// CHECK-SAME: slots = [4], tables = [4], ub = 2, weight_tile = 2}
// CHECK: "tpu.write_host"(%y_q) {host = 96, tensor = "y"}

// -----

// Two output tiles: two accumulator chunks, two tables in two slots.
module {
  func.func @main(%x: tensor<1x2xf32>) -> (tensor<1x260xf32> {qcc.name = "y"}) {
    %x_q = "quant.quantize"(%x) : (tensor<1x2xf32>) -> tensor<1x2x!quant.uniform<i8:f32, 0.004612125602422976:-12>>
    %x_q_1 = "tpu.read_host"(%x_q) {tensor = "x"} : (tensor<1x2x!quant.uniform<i8:f32, 0.004612125602422976:-12>>) -> tensor<1x2x!quant.uniform<i8:f32, 0.004612125602422976:-12>>
    %w = "nn.constant"() {value = dense<"0x1AF6E9E310F55C3EF9F539C0F120E1F0F416050E140126E7CFC4C9ED2306ECDCEEF2EDD0F022B6F8B806E7B9033E0427FEB711F2CF1B0AEE1DE216E012DB320931E4F01CA3DC231021F613E7D2C7EDEDEB88BCEE0AECE2B244DB393509ED04D9090012203BF323E5E2EBDF211F2BFF09ECD90F09DB14C5FAEBEEDB20132804D4F3D80F290BEBF306CF0506EDF105E4E41A0738DEC31F20E6CDFEC4F4B5F7B7F732F619E9E1CC22FD36D7F7012E3CE8D8C42CFBE8FDA8C41E0C03DC123AD5FFEF0AFFF9E0FEE9F9FC14EAF322F7F51B070106D40E2B12CA08E0F703D62CFC19142C27CD00B6F0171E2AF20A022A35F37FFFF2131911E93101332ED4DEDD080108E40E2FD2F908FBF93B2B1CE64B0CECF4EF470602B719DCD914E21C26C3FBCAFD1ED13DF5D7FB1AD100D12805F122D4F23EFB2D06E8F702F1E3E5CD030D19C21BFFCF031B11181F1EFEB9E60BEF161A013FDE1FEFE513EA1CD801E3F7F3D916D5DE1E20160B4DD6E6DE1E092520F8E4DE4A2014F4F9F4F5AEFDF309071CFF1AA9DA3AD6F617E218CFBFD3C8FFF50BDC56FCFE0FF7EA021F161FECE543F7101930D2EFF1F5AEFC9E0A1214D720E2D6DEE3061CB9ED1E0711CD20CB062E40111EEBF02800FCD00516E5EF3606F6DAEBF82EEB3DE1F41DF8E4FC0FC6F8FCF219EDF40119F933E12CE3FA0C461EF22CF9E50F0320ED0D1509FFE81F0511F400DD031A031D0B2EFAC90FFA"> : tensor<2x260x!quant.uniform<i8<-127:127>:f32, 0.008862130285248043:0>>} : () -> tensor<2x260x!quant.uniform<i8<-127:127>:f32, 0.008862130285248043:0>>
    %y_q_bias = "nn.constant"() {value = dense<"0xE4000000E8FFFFFFB0FEFFFF50FEFFFF8403000080010000A0050000B0010000300300000C000000BC01000070FCFFFF80FEFFFFD4040000D4FEFFFF58FFFFFF04FCFFFF340200008CFEFFFFD4FEFFFFE0010000A4FEFFFF180300009C000000D8FAFFFFF4FCFFFFE4FAFFFFF8FEFFFF0C03000014FEFFFFEC010000CCFDFFFF3CFDFFFF1CFFFFFF540000008CFBFFFF40FFFFFF64FFFFFF68FEFFFFDCFFFFFFECFBFFFFE0010000C4FCFFFF04FCFFFF0C030000AC0200004C0200001C020000C8FEFFFF28FCFFFFE4000000A4FEFFFF58FCFFFF0000000014FEFFFF4CFFFFFFF8010000C4FFFFFF20FEFFFFC4FFFFFFCC000000F8FBFFFF7C020000B001000018030000D0FFFFFFB4000000B80200008CFBFFFFFCFAFFFF6C00000044010000C0000000900000001C020000E0FEFFFFCC000000BCFBFFFF9000000050FEFFFFC0FDFFFF44FBFFFFC8FBFFFF7800000098FEFFFF1CFFFFFF3CFDFFFFECFBFFFF9402000070FCFFFFB403000078000000D4FEFFFF84000000B001000034FFFFFFF00000009C030000E0FEFFFF480000002C010000CC000000100200007800000018000000A4FEFFFF24FDFFFFF4FFFFFFEC04000084030000E4000000DCFFFFFFBCFEFFFF9CFDFFFF3000000094FCFFFF20FEFFFF54000000A8FDFFFF0C000000540000001CFFFFFF7CFFFFFF6CFDFFFF1CFFFFFF9804000038FEFFFF78FDFFFF78000000B8FCFFFFD4010000A0FFFFFF78FDFFFFE8FCFFFFC4FCFFFF3C00000030FDFFFFC000000098FEFFFF240300001CFFFFFF2400000064FFFFFF44FEFFFF300000006C0000001404000070FFFFFF98FEFFFF840000003C000000EC01000030FDFFFFA80000005CFEFFFFB001000054FAFFFFC8FEFFFFE0FBFFFF10FFFFFF80FEFFFF58FFFFFF94FCFFFF64FFFFFF64FFFFFF80FEFFFFACFFFFFF5C010000200100001CFCFFFFFCFDFFFFB0FEFFFF70020000200400008CFBFFFF3CFDFFFF98FEFFFF64020000900000007CFCFFFF5C01000064F9FFFF78FDFFFF9003000090030000F0000000B8FFFFFFDCFFFFFFF8010000DCFFFFFFF4FFFFFF04FFFFFF38FEFFFF30000000B40000003CFDFFFF1CFFFFFF74010000F4FFFFFF58FFFFFF28FFFFFFFCFDFFFF04FFFFFFC003000098FEFFFF58020000D0FFFFFFC4FFFFFF68010000E8FFFFFFA0FCFFFF78000000B802000020FEFFFF18FDFFFF30000000D8FDFFFFC000000040FFFFFF78FDFFFF1C020000FC000000D8000000540300009C000000E403000040FCFFFFB8FFFFFF18FDFFFF880200007C020000C00000000804000004FFFFFF34FFFFFFCC0000001C020000FC03000080FEFFFF90060000F0000000C4FFFFFFD80000000C0000004002000028FFFFFF180300007CFFFFFF640200008400000014FEFFFFA0FFFFFF80FEFFFFBC010000900000008802000068FEFFFF14FEFFFFE802000090FDFFFF"> : tensor<260xi32>} : () -> tensor<260xi32>
    %y_q = "tpu.matmul"(%x_q_1, %w, %y_q_bias) {clamp_max = 127, clamp_min = -128, k_tiles = 1, multiplier = [2051215784], n_tiles = 2, row_chunk = 2048, shift = [-7]} : (tensor<1x2x!quant.uniform<i8:f32, 0.004612125602422976:-12>>, tensor<2x260x!quant.uniform<i8<-127:127>:f32, 0.008862130285248043:0>>, tensor<260xi32>) -> tensor<1x260x!quant.uniform<i8:f32, 0.0054773153043260765:-7>>
    %y_q_1 = "tpu.write_host"(%y_q) {tensor = "y"} : (tensor<1x260x!quant.uniform<i8:f32, 0.0054773153043260765:-7>>) -> tensor<1x260x!quant.uniform<i8:f32, 0.0054773153043260765:-7>>
    %y_dq = "quant.dequantize"(%y_q_1) : (tensor<1x260x!quant.uniform<i8:f32, 0.0054773153043260765:-7>>) -> tensor<1x260xf32>
    return %y_dq : tensor<1x260xf32>
  }
}
// CHECK: "tpu.read_host"(%x_q) {host = 0, tensor = "x", ub = 0}
// CHECK: %y_q = "tpu.matmul"(%x_q_1, %w, %y_q_bias) {acc = [0, 2048],
// CHECK-SAME: slots = [0, 1], tables = [0, 1], ub = 1, weight_tile = 0}
// CHECK: "tpu.write_host"(%y_q) {host = 2, tensor = "y"}

// -----

// Nine tables: the ninth is loaded into slot 0 again; two rows alternate.
module {
  func.func @main(%x: tensor<1x4xf32>) -> (tensor<1x4xf32>) {
    %a0 = "quant.quantize"(%x) : (tensor<1x4xf32>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>
    %a0_1 = "tpu.read_host"(%a0) {tensor = "x"} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>
    %a1 = "tpu.activate"(%a0_1) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:0>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:1>>
    %a2 = "tpu.activate"(%a1) {clamp_max = 127, clamp_min = -128, multiplier = [1610612736], shift = [1]} : (tensor<1x4x!quant.uniform<i8:f32, 0.03:1>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:2>>
    %a3 = "tpu.activate"(%a2) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:2>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:3>>
    %a4 = "tpu.activate"(%a3) {clamp_max = 127, clamp_min = -128, multiplier = [1610612736], shift = [1]} : (tensor<1x4x!quant.uniform<i8:f32, 0.03:3>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:4>>
    %a5 = "tpu.activate"(%a4) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:4>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:5>>
    %a6 = "tpu.activate"(%a5) {clamp_max = 127, clamp_min = -128, multiplier = [1610612736], shift = [1]} : (tensor<1x4x!quant.uniform<i8:f32, 0.03:5>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:6>>
    %a7 = "tpu.activate"(%a6) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:6>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:7>>
    %a8 = "tpu.activate"(%a7) {clamp_max = 127, clamp_min = -128, multiplier = [1610612736], shift = [1]} : (tensor<1x4x!quant.uniform<i8:f32, 0.03:7>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.02:8>>
    %a9 = "tpu.activate"(%a8) {clamp_max = 127, clamp_min = -128, multiplier = [1431655765], shift = [0]} : (tensor<1x4x!quant.uniform<i8:f32, 0.02:8>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:9>>
    %a9_1 = "tpu.write_host"(%a9) {tensor = "y"} : (tensor<1x4x!quant.uniform<i8:f32, 0.03:9>>) -> tensor<1x4x!quant.uniform<i8:f32, 0.03:9>>
    %y = "quant.dequantize"(%a9_1) : (tensor<1x4x!quant.uniform<i8:f32, 0.03:9>>) -> tensor<1x4xf32>
    return %y : tensor<1x4xf32>
  }
}
// CHECK: %a1 = "tpu.activate"(%a0_1)
// CHECK-SAME: slots = [0], tables = [0], ub = 1}
// CHECK: %a2 = "tpu.activate"(%a1)
// CHECK-SAME: slots = [1], tables = [1], ub = 0}
// CHECK: %a8 = "tpu.activate"(%a7)
// CHECK-SAME: slots = [7], tables = [7], ub = 0}
// CHECK: %a9 = "tpu.activate"(%a8)
// CHECK-SAME: slots = [0], tables = [8], ub = 1}
// CHECK: "tpu.write_host"(%a9) {host = 4, tensor = "y"}
