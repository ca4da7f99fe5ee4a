"""Dialects: families of ops. Importing this package registers them all."""

from qcc.dialects import nn, quant

__all__ = ["nn", "quant"]
