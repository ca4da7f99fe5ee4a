"""The TPU-v1 backend: target description, lowering of integer graphs to programs,
memory planning, the instruction set and binary, and the simulator."""
