; TPU program: 47 instructions, 411360 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="4da2889961b3fce19b51a756ac60018767cb0143e0e0b2e16100394cd1aa285e"
.manifest model_sha256="401b3ed41b5ad2c13e13fd391d9f3bf9969e6bb01f49e87c8fde0fea46184e5d"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="4df675b6ac89440aa6ed191bff5181f7d6d036dba7903e70221d5b809766e448"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="output" shape=[8,10] dtype=i8 scale=0.00978772523356419 zero_point=47 host=512

.layer "program"
read_host host=0 ub=0 rows=512 row_bytes=1 host_stride=1
.layer "conv_4_node"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=393216
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.layer "program"
sync kind=0
.layer "conv_4_node"
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=0 lanes=16 column=0
.layer "conv_12_node"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=395808
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=2048 length=512
activate src_ub=0 function=0 src=2048 ub=0 rows=512 table=1 lanes=16 column=0
.layer "conv_20_node"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=398400
set_conv in_h=8 in_w=8 out_h=8 out_w=8 kernel_h=1 kernel_w=1 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=512
activate src_ub=0 function=0 src=0 ub=512 rows=512 table=2 lanes=16 column=0
.layer "conv_28_node"
read_weights dram=196608 count=1
sync kind=1
load_table slot=3 dram=400992
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 18432
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=512 acc=2048 length=128
activate src_ub=0 function=0 src=2048 ub=0 rows=128 table=3 lanes=16 column=0
.layer "conv_36_node"
read_weights dram=262144 count=1
sync kind=1
load_table slot=4 dram=403584
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=1 kernel_w=1 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
.macs 65536
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=128
activate src_ub=0 function=0 src=0 ub=128 rows=128 table=4 lanes=32 column=0
.layer "gap_43_node"
sync kind=1
load_table slot=5 dram=406176
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=128 dst=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=5 lanes=32 column=0
.layer "reshape_45_node"
sync kind=1
.layer "fc_48_node"
read_weights dram=327680 count=1
sync kind=1
load_table slot=6 dram=408768
.macs 2560
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=6 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 411360
; weight data elided: sha256 0cca2748c14510f02f5c806ec16c507c29f3e7d7faa14a4afc4f6f156adbdde8
