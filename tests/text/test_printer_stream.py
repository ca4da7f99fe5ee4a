"""The streamed text of a module (module_text, module_sha256) is print_module's."""

from __future__ import annotations

import hashlib

import qcc
from qcc.testing import models
from qcc.text import module_sha256, print_module
from qcc.text.printer import module_text


def test_streamed_text_and_digest_equal_print_module():
    module = qcc.import_onnx(models.depthwise_cnn(seed=1))
    text = print_module(module)
    assert "".join(module_text(module)) == text
    assert module_sha256(module) == hashlib.sha256(text.encode()).hexdigest()
