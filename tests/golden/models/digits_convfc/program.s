; TPU program: 36 instructions, 272512 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="c62d504ba9d73cda98d28a7dce2682d76ec1e6ca6d23ca8faa3d1e7d8fc73089"
.manifest model_sha256="adbae4da57a8b0be1f592e92512f8941e31ade37788cca5c7a4ca46db26b1b22"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="b7693f2d53c562b955e03eaddf7f2c9307266dfef9941a479065c91e8ceeb49b"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="logits" shape=[8,10] dtype=i8 scale=0.20177216623343674 zero_point=18 host=512

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
.layer "/features/features.0/Conv"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=262144
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.layer "program"
sync kind=0
.layer "/features/features.0/Conv"
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=0 lanes=16 column=0
.layer "/features/features.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=512 dst=0 length=128
.layer "/features/features.3/Conv"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=264736
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 589824
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=128 rows=128 table=1 lanes=32 column=0
.layer "/features/features.5/MaxPool"
sync kind=1
set_conv in_h=4 in_w=4 out_h=2 out_w=2 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=128 dst=0 length=32
.layer "/fc1/Gemm"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=267328
set_conv in_h=2 in_w=2 out_h=1 out_w=1 kernel_h=2 kernel_w=2 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=4 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 65536
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=32 rows=8 table=2 lanes=64 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc2/Gemm"
read_weights dram=196608 count=1
sync kind=1
load_table slot=3 dram=269920
.macs 5120
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=32 acc=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=3 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=0 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 272512
; weight data elided: sha256 f03ddf57a8f64cb7722b9acec3b6e65c00f39f04cd1d1b016bc44f7d0243df69
