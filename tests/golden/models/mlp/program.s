; TPU program: 21 instructions, 204384 weight bytes (binary format 2, written by qcc 0.1.0)
.target "tpu-v1"
.manifest integer_ir_sha256="53cd447d2764f0db9f44efd255bf6c8323b2cf1009db796abe9b7770de79e762"
.manifest model_sha256="e268c071d8f81eb7d6b8a281d1096860fab2145a0e4c39e12391eb763933d6d0"
.manifest pipeline="canonicalize,normalize-gemm,fold-batchnorm,canonicalize,calibrate{method=minmax},quantize{granularity=per-channel activations=int8},fold-rescale,fuse-relu"
.manifest statistics_sha256="218b273d35c0d98826fb155f189e71d1c2104f3845a80c8f4d0e4306f950397a"
.manifest target="tpu-v1"
.manifest target_sha256="3dd3df15fa2ad4e978645a3db6e4cd6f4d0298f3ac2f706e02460609533583db"
.input name="input" shape=[8,64] dtype=i8 scale=0.00392156862745098 zero_point=-128 host=0
.output name="output" shape=[8,10] dtype=i8 scale=0.014462507472318762 zero_point=-45 host=512

.layer "program"
read_host host=0 ub=0 rows=8 row_bytes=64 host_stride=64
.layer "fc_4_node"
read_weights dram=0 count=1
sync kind=1
load_table slot=0 dram=196608
.layer "program"
sync kind=0
.layer "fc_4_node"
.macs 16384
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=0 lanes=32 column=0
.layer "fc_9_node"
read_weights dram=65536 count=1
sync kind=1
load_table slot=1 dram=199200
.macs 8192
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=8 acc=2048 length=8
activate src_ub=0 function=0 src=2048 ub=0 rows=8 table=1 lanes=32 column=0
.layer "add_14_node"
read_weights dram=131072 count=1
sync kind=1
load_table slot=2 dram=201792
.macs 2560
matmul accumulate=0 switch=1 conv=0 unsigned=0 tap=0 ub=0 acc=0 length=8
activate src_ub=0 function=0 src=0 ub=8 rows=8 table=2 lanes=10 column=0
.layer "program"
sync kind=1
write_host host=512 ub=8 rows=8 row_bytes=10 host_stride=10
sync kind=0
halt

.weights 204384
; weight data elided: sha256 1ef8402211b6d112a1600ef988be446c6e1103f4550011cbe825483b51a62a6b
