; TPU program: 136 instructions, 353600 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="c73894c9034bf7fb42f774e0a813e8fac9993995825605b652a141a72e8abf19"
.manifest model_sha256="f5a388d37b63a857f61bf93a1895daa3acca5dba8fd5bdf264f110554e367741"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="67fa28ac5933ef04ba83f25988900157544409838d93a8bcb8d26e3c394d8068"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="output" shape=[8,10] dtype=i8 scale=0.001965038916643928 zero_point=-128 host=592
.host_tensor name="fc_37_q" shape=[8,10] dtype=i8 scale=0.019372290255976657 zero_point=-3 host=512
.segment inputs=["fc_37_q"] outputs=["output"] ir="module {\n  func.func @main(%fc_37_q: tensor<8x10x!quant.uniform<i8:f32, 0.019372290255976657:-3>>) -> (tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> {qcc.name = \"output\"}) {\n    %fc_37_dq = \"quant.dequantize\"(%fc_37_q) : (tensor<8x10x!quant.uniform<i8:f32, 0.019372290255976657:-3>>) -> tensor<8x10xf32> loc(onnx \"Gemm\" \"fc_37_node\")\n    %output = \"nn.softmax\"(%fc_37_dq) {axis = 1} : (tensor<8x10xf32>) -> tensor<8x10xf32> loc(onnx \"Softmax\" \"softmax_38_node\")\n    %output_q = \"quant.quantize\"(%output) : (tensor<8x10xf32>) -> tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> loc(onnx \"Softmax\" \"softmax_38_node\")\n    return %output_q : tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> loc(unknown)\n  }\n}\n"

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
.layer "conv_2_node"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=327680
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.layer "program"
sync kind=0
.layer "conv_2_node"
.macs 36864
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=0 lanes=8 column=0
.layer "pool_9_node"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=512 dst=0 length=128
.layer "conv_11_node"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=330272
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=128 rows=128 table=1 lanes=8 column=0
.layer "conv_19_node"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=128 acc=0 length=128
activate src_ub=0 function=0 src=0 ub=256 rows=128 table=2 lanes=8 column=0
.layer "residual_25_node"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=256 ub=128 rows=128 table=3
.layer "conv_29_node"
read_weights dram=196608 count=1
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0 up_h=0 up_w=0
.macs 147456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=128 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=0 rows=128 table=4 lanes=16 column=0
.layer "avgpool_32_node"
sync kind=1
load_table slot=5 dram=340640
load_table slot=6 dram=343232
load_table slot=7 dram=345824
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=22 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=0 dst=0 length=128
activate src_ub=0 function=0 src=0 ub=128 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=1 ub=129 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=3 ub=131 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=4 ub=132 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=5 ub=133 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=7 ub=135 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=9 ub=137 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=11 ub=139 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=12 ub=140 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=13 ub=141 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=15 ub=143 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=17 ub=145 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=19 ub=147 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=20 ub=148 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=21 ub=149 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=23 ub=151 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=25 ub=153 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=27 ub=155 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=28 ub=156 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=29 ub=157 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=31 ub=159 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=33 ub=161 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=35 ub=163 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=36 ub=164 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=37 ub=165 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=39 ub=167 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=41 ub=169 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=43 ub=171 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=44 ub=172 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=45 ub=173 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=47 ub=175 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=49 ub=177 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=51 ub=179 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=52 ub=180 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=53 ub=181 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=55 ub=183 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=57 ub=185 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=59 ub=187 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=60 ub=188 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=61 ub=189 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=63 ub=191 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=65 ub=193 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=67 ub=195 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=68 ub=196 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=69 ub=197 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=71 ub=199 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=73 ub=201 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=75 ub=203 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=76 ub=204 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=77 ub=205 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=79 ub=207 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=81 ub=209 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=83 ub=211 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=84 ub=212 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=85 ub=213 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=87 ub=215 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=89 ub=217 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=91 ub=219 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=92 ub=220 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=93 ub=221 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=95 ub=223 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=97 ub=225 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=99 ub=227 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=100 ub=228 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=101 ub=229 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=103 ub=231 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=105 ub=233 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=107 ub=235 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=108 ub=236 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=109 ub=237 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=111 ub=239 rows=2 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=113 ub=241 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=115 ub=243 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=116 ub=244 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=117 ub=245 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=119 ub=247 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=121 ub=249 rows=2 table=7 lanes=16 column=0
activate src_ub=0 function=0 src=123 ub=251 rows=1 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=124 ub=252 rows=1 table=5 lanes=16 column=0
activate src_ub=0 function=0 src=125 ub=253 rows=2 table=6 lanes=16 column=0
activate src_ub=0 function=0 src=127 ub=255 rows=1 table=5 lanes=16 column=0
.layer "gap_33_node"
sync kind=1
load_table slot=0 dram=348416
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=22 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=128 dst=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=0 lanes=16 column=0
.layer "flat_34_node"
sync kind=1
.layer "fc_37_node"
read_weights dram=262144 count=1
sync kind=1
load_table slot=1 dram=351008
.macs 1280
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=1 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
.layer "softmax_38_node"
host_call segment=0 elements=240 products=0
.layer "program"
sync kind=1
halt

.weights 353600
; weight data elided: sha256 eff0891f935422b0c05ca51756e6ab990b9ed04acddae58e356fcc15ad242a50
