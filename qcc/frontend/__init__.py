"""Frontends: importers of models into the ``nn`` dialect, and the ONNX QDQ exporter."""

from qcc.frontend.onnx_export import export_qdq
from qcc.frontend.onnx_importer import import_onnx

__all__ = ["export_qdq", "import_onnx"]
