"""The TPU-v1 backend: target description, lowering of integer graphs to programs,
memory planning, the instruction set and binary, and the simulator.

The driver reaches it through the backend registry (qcc/backend.py), which imports
``qcc.backends.tpu_v1.backend`` by name when a tpu-v1 target (``tpu-v1``,
``tpu-v1-gddr5``, ``tpu-v1-hbm`` or a target file) is asked for. This package imports
nothing above the backends: not the driver, the CLI nor the package top level's
names (docs/layers.md)."""
