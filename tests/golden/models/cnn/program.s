; TPU program: 55 instructions, 345824 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="240d5b1a1a4a7ea44cbac009f5811c597401cd8403be42b1540bf6f741353f16"
.manifest model_sha256="f5a388d37b63a857f61bf93a1895daa3acca5dba8fd5bdf264f110554e367741"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="67fa28ac5933ef04ba83f25988900157544409838d93a8bcb8d26e3c394d8068"
.manifest target="tpu-v1"
.manifest target_sha256="27c0ca4f4273d44e6dfb2c9e30d51d2704179ceeb575062727bf7600bb38b252"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="output" shape=[8,10] dtype=i8 scale=0.001965038916643928 zero_point=-128 host=4688
.host_tensor name="clip_31_q" shape=[8,16,4,4] dtype=i8 scale=0.053644298104678884 zero_point=22 host=2560
.host_tensor name="avgpool_32_q" shape=[8,16,4,4] dtype=i8 scale=0.0405364429249483 zero_point=22 host=512
.host_tensor name="fc_37_q" shape=[8,10] dtype=i8 scale=0.019372290255976657 zero_point=-3 host=4608
.segment inputs=["clip_31_q"] outputs=["avgpool_32_q"] ir="module {\n  func.func @main(%clip_31_q: tensor<8x16x4x4x!quant.uniform<i8:f32, 0.053644298104678884:22>>) -> (tensor<8x16x4x4x!quant.uniform<i8:f32, 0.0405364429249483:22>>) {\n    %clip_31_dq = \"quant.dequantize\"(%clip_31_q) : (tensor<8x16x4x4x!quant.uniform<i8:f32, 0.053644298104678884:22>>) -> tensor<8x16x4x4xf32> loc(onnx \"Clip\" \"clip_31_node\")\n    %avgpool_32 = \"nn.avg_pool\"(%clip_31_dq) {ceil_mode = false, count_include_pad = false, kernel = [3, 3], pads = [1, 1, 1, 1], strides = [1, 1]} : (tensor<8x16x4x4xf32>) -> tensor<8x16x4x4xf32> loc(onnx \"AveragePool\" \"avgpool_32_node\")\n    %avgpool_32_q = \"quant.quantize\"(%avgpool_32) : (tensor<8x16x4x4xf32>) -> tensor<8x16x4x4x!quant.uniform<i8:f32, 0.0405364429249483:22>> loc(onnx \"AveragePool\" \"avgpool_32_node\")\n    return %avgpool_32_q : tensor<8x16x4x4x!quant.uniform<i8:f32, 0.0405364429249483:22>> loc(unknown)\n  }\n}\n"
.segment inputs=["fc_37_q"] outputs=["output"] ir="module {\n  func.func @main(%fc_37_q: tensor<8x10x!quant.uniform<i8:f32, 0.019372290255976657:-3>>) -> (tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> {qcc.name = \"output\"}) {\n    %fc_37_dq = \"quant.dequantize\"(%fc_37_q) : (tensor<8x10x!quant.uniform<i8:f32, 0.019372290255976657:-3>>) -> tensor<8x10xf32> loc(onnx \"Gemm\" \"fc_37_node\")\n    %output = \"nn.softmax\"(%fc_37_dq) {axis = 1} : (tensor<8x10xf32>) -> tensor<8x10xf32> loc(onnx \"Softmax\" \"softmax_38_node\")\n    %output_q = \"quant.quantize\"(%output) : (tensor<8x10xf32>) -> tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> loc(onnx \"Softmax\" \"softmax_38_node\")\n    return %output_q : tensor<8x10x!quant.uniform<i8:f32, 0.001965038916643928:-128>> loc(unknown)\n  }\n}\n"

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
sync kind=0
.layer "conv_2_node"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=327680
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0
.macs 36864
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=640 rows=512 table=0 lanes=8 column=0
.layer "pool_9_node"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0
pool sum=0 unsigned=0 src=640 dst=0 length=128
.layer "conv_11_node"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=330272
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=128 rows=128 table=1 lanes=8 column=0
.layer "conv_19_node"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0
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
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=8 first_pixel=0
.macs 147456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=128 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=0 rows=128 table=4 lanes=16 column=0
.layer "program"
sync kind=1
write_host host=2560 ub=0 rows=128 row_bytes=16 host_stride=16
sync kind=0
.layer "avgpool_32_node"
host_call segment=0 elements=6144 products=0
.layer "program"
read_host host=512 ub=512 rows=128 row_bytes=16 host_stride=16
sync kind=0
.layer "gap_33_node"
sync kind=1
load_table slot=5 dram=340640
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=22 taps_per_row=1 channels=0 first_pixel=0
pool sum=1 unsigned=0 src=512 dst=0 length=8
activate src_ub=0 function=0 src=0 ub=128 rows=8 table=5 lanes=16 column=0
.layer "flat_34_node"
sync kind=1
.layer "fc_37_node"
read_weights dram=262144 count=1
sync kind=1
load_table slot=6 dram=343232
.macs 1280
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=128 acc=2048 length=8
activate src_ub=0 function=0 src=2048 ub=136 rows=8 table=6 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=4608 ub=136 rows=8 row_bytes=10 host_stride=10
sync kind=0
.layer "softmax_38_node"
host_call segment=1 elements=240 products=0
.layer "program"
sync kind=1
halt

.weights 345824
; weight data elided: sha256 d9cf839ff25114660437882021b79e5585d2222ef24e7b928cc90217071780d5
