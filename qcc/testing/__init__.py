"""Test helpers: a small FileCheck and the golden-file conventions (split, RUN lines)."""

from qcc.testing.filecheck import FileCheckError, filecheck

__all__ = ["FileCheckError", "filecheck"]
