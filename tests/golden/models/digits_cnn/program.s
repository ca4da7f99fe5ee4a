; TPU program: 42 instructions, 343232 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="a067b8628f3f348b0512a9f76955ef131d9136808ac99d995792073000cdb2ca"
.manifest model_sha256="d28e937dc98fb302420509a6e14fa78fe8e024c5623761abebe4544004623b13"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="af1fdfebac4f3fa1ee1b91bedfdc32d1c86c9ee1322cafb6c5337f1532ba43ba"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="logits" shape=[8,10] dtype=i8 scale=0.07041107439527325 zero_point=-19 host=512

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=327680
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.layer "program"
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=0 lanes=16 column=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=330272
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 2359296
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=2048 length=512
activate src_ub=0 function=0 src=2048 ub=0 rows=512 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=512 length=128
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 1048576
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=0 length=128
.macs 131072
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=512 acc=0 length=128
activate src_ub=0 function=0 src=0 ub=0 rows=128 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=512 ub=128 rows=128 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=128 dst=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 2560
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 343232
; weight data elided: sha256 139371d7c61f0bb914baeb98fc730b657c56faf55a8ecc548c8a48d59b7c4dc2
