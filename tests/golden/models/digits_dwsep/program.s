; TPU program: 48 instructions, 476896 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="527f0ed2246917d4224e05ad849bca1280094e51dacda5ec51ba32031746a9bb"
.manifest model_sha256="fc10fca47fa5ccef107b3474d86685afd489f11520eb14a3eef3329cd2119728"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="fe4a924b13ea8311138e0a765783be2f7dc52ae33f20346ddd3b11d43bd11f9b"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="logits" shape=[8,10] dtype=i8 scale=0.10822828330245672 zero_point=16 host=512

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
.layer "/features/features.0/features.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=458752
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.layer "program"
sync kind=0
.layer "/features/features.0/features.0.0/Conv"
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=0 lanes=16 column=0
.layer "/features/features.1/features.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=461344
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=2048 length=512
activate src_ub=0 function=0 src=2048 ub=0 rows=512 table=1 lanes=16 column=0
.layer "/features/features.2/features.2.0/Conv"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=463936
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=1 kernel_w=1 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
.macs 262144
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=2 lanes=32 column=0
.layer "/features/features.3/features.3.0/Conv"
read_weights dram=196608 count=2
sync kind=1
load_table slot=3 dram=466528
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 32768
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=2048 length=128
.macs 4096
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=512 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=0 rows=128 table=3 lanes=32 column=0
.layer "/features/features.4/features.4.0/Conv"
read_weights dram=327680 count=1
sync kind=1
load_table slot=4 dram=469120
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=1 kernel_w=1 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
.macs 262144
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=128
activate src_ub=0 function=0 src=0 ub=128 rows=128 table=4 lanes=64 column=0
.layer "/features/features.5/GlobalAveragePool"
sync kind=1
load_table slot=5 dram=471712
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=128 dst=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=5 lanes=64 column=0
.layer "/features/features.6/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=393216 count=1
sync kind=1
load_table slot=6 dram=474304
.macs 5120
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=6 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 476896
; weight data elided: sha256 56f99d80821a36461fba9e1617141b81eb2f2afbc86fc0ab07f881a2a82ad7c7
