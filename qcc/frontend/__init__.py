"""Frontends: importers of models into the ``nn`` dialect."""

from qcc.frontend.onnx_importer import import_onnx

__all__ = ["import_onnx"]
