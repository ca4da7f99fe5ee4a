; TPU program: 649 instructions, 343232 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1-ub100" description="tpu-v1 with a 100-row Unified Buffer (a golden-suite test target)" what_if=false
.target_table array rows=256 cols=256 clock_hz=700000000.0
.target_table unified_buffer rows=100 row_bytes=256
.target_table accumulators rows=4096 lanes=256 bytes_per_lane=4
.target_table weights fifo_depth=4 tile_bytes=65536 shift_cycles=256
.target_table weight_memory kind="DDR3" capacity_bytes=8589934592 bandwidth_bytes_per_s=34000000000.0
.target_table host_link kind="PCIe Gen3 x16" raw_bandwidth_bytes_per_s=15750000000.0 bandwidth_bytes_per_s=14000000000.0
.target_table power idle_w=28.0 busy_w=40.0 tdp_w=75.0
.target_table timing issue_cycles=10.0 fill_drain_cycles=510.0 activate_rows_per_cycle=1.0 pool_rows_per_cycle=1.0 add_rows_per_cycle=1.0
.target_table energy mac_pj=0.16 ub_pj_per_byte=6.65 acc_pj_per_access=4.0 dram_pj_per_bit=30.0 host_pj_per_bit=10.0 static_w=34.7 switching_activity=0.54
.manifest integer_ir_sha256="8ded8c8549916f70823e19c1470552bf28d3acbd6ea57a08f66a5d475296352a"
.manifest model_sha256="d28e937dc98fb302420509a6e14fa78fe8e024c5623761abebe4544004623b13"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="2ca8a77099947c4d88e286813861d850f29c362320937d4f1ebfaa9c8c96b797"
.manifest target="tpu-v1-ub100"
.manifest target_sha256="75f5300d26a051a04fa71e211665df7185bb36bd4415c0cdee9d3ae34313db87"
.input name="input" shape=[8,1,8,8] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="logits" shape=[8,10] dtype=i8 scale=0.07041108187507181 zero_point=-19 host=512

.layer "program"
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=0 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=32 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=64 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=96 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=522 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=128 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=160 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=532 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=192 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=224 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=542 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=256 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=288 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=552 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=320 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=352 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=562 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=384 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=416 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=572 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
sync kind=0
.layer "/stem/stem.0/stem.0.0/Conv"
read_weights dram=0 count=1
sync kind=1
read_host host=448 ub=0 rows=48 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
set_conv in_h=6 in_w=8 out_h=5 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 5760
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=0 length=40
activate src_ub=0 function=0 src=0 ub=48 rows=40 table=0 lanes=16 column=0
sync kind=1
write_host host=592 ub=48 rows=40 row_bytes=16 host_stride=16
sync kind=1
read_host host=480 ub=0 rows=32 row_bytes=1 host_stride=1
sync kind=0
load_table slot=0 dram=327680
read_weights dram=0 count=1
set_conv in_h=4 in_w=8 out_h=3 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=1 first_pixel=0 up_h=0 up_w=0
.macs 3456
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=0 acc=2048 length=24
activate src_ub=0 function=0 src=2048 ub=48 rows=24 table=0 lanes=16 column=0
sync kind=1
write_host host=1232 ub=48 rows=24 row_bytes=16 host_stride=16
sync kind=0
.layer "/stem/stem.1/stem.1.0/Conv"
read_weights dram=65536 count=1
sync kind=1
read_host host=592 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=720 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=16 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=976 ub=64 rows=32 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=4 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=32 rows=16 table=1 lanes=32 column=0
sync kind=1
read_host host=1232 ub=64 rows=24 row_bytes=16 host_stride=16
sync kind=0
load_table slot=1 dram=330272
read_weights dram=65536 count=1
set_conv in_h=3 in_w=8 out_h=2 out_w=8 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=1 pad_value=128 taps_per_row=9 channels=16 first_pixel=0 up_h=0 up_w=0
.macs 73728
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=2048 length=16
activate src_ub=0 function=0 src=2048 ub=48 rows=16 table=1 lanes=32 column=0
.layer "/stem/stem.2/MaxPool"
sync kind=1
set_conv in_h=8 in_w=8 out_h=4 out_w=4 kernel_h=2 kernel_w=2 stride_h=2 stride_w=2 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=0 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=0 unsigned=0 src=0 dst=64 length=16
.layer "/block/block.0/Conv"
read_weights dram=131072 count=2
sync kind=1
load_table slot=2 dram=332864
set_conv in_h=4 in_w=4 out_h=4 out_w=4 kernel_h=3 kernel_w=3 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=1 pad_left=1 pad_value=128 taps_per_row=8 channels=32 first_pixel=0 up_h=0 up_w=0
.macs 131072
matmul accumulate=0 switch=1 conv=1 unsigned=0 tap=0 ub=64 acc=0 length=16
.macs 16384
matmul accumulate=1 switch=1 conv=1 unsigned=0 tap=8 ub=64 acc=0 length=16
activate src_ub=0 function=0 src=0 ub=0 rows=16 table=2 lanes=32 column=0
.layer "/Add"
sync kind=1
load_table slot=3 dram=335456
add src_a=0 src_b=64 ub=16 rows=16 table=3
.layer "/pool/GlobalAveragePool"
sync kind=1
load_table slot=4 dram=338048
set_conv in_h=4 in_w=4 out_h=1 out_w=1 kernel_h=4 kernel_w=4 stride_h=1 stride_w=1 dilation_h=1 dilation_w=1 pad_top=0 pad_left=0 pad_value=128 taps_per_row=1 channels=0 first_pixel=0 up_h=0 up_w=0
pool sum=1 unsigned=0 src=16 dst=2048 length=1
activate src_ub=0 function=0 src=2048 ub=0 rows=1 table=4 lanes=32 column=0
.layer "/flatten/Flatten"
sync kind=1
.layer "/fc/Gemm"
read_weights dram=262144 count=1
sync kind=1
load_table slot=5 dram=340640
.macs 320
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=1
activate src_ub=0 function=0 src=0 ub=1 rows=1 table=5 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=582 ub=1 rows=1 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 343232
; weight data elided: sha256 6e7d52b196b415afd5d6a7d666590ff8a1810e3a8a7c25e85761028dcc3303b5
