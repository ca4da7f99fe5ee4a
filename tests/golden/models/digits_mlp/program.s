; TPU program: 21 instructions, 204384 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="13907eb85d175d1c2f9f6e79653cc1ef72feaa011818b99def13c993cd9cff1e"
.manifest model_sha256="af0db5d9627f51b56ca662265d7c4ac3cd06ab2dfbe982404b02ac15203b39c9"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="327cf9ae802805ee851166fcd528ed95bc532e9ad56bd09d47064cff7b226cc4"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,64] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="logits" shape=[8,10] dtype=i8 scale=0.2132900686825023 zero_point=28 host=512

.layer "program"
read_host host=0 ub=0 rows=8 row_bytes=64 host_stride=64
.layer "/body/body.1/Gemm"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=196608
.layer "program"
sync kind=0
.layer "/body/body.1/Gemm"
.macs 65536
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=0 lanes=128 column=0
.layer "/body/body.3/Gemm"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=199200
.macs 65536
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=8 acc=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=1 lanes=64 column=0
.layer "/body/body.5/Gemm"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=201792
.macs 5120
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=2 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 204384
; weight data elided: sha256 c5a7c91e1389432f160dbcfd62296d4e71ddbd3601a77f838646515c4d4d9a16
