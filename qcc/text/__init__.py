"""Text form of the IR: a deterministic printer and a lark parser."""

from qcc.text.parser import parse_module
from qcc.text.printer import (
    format_location,
    module_sha256,
    print_module,
    print_op,
    value_names,
)

__all__ = ["format_location", "module_sha256", "parse_module", "print_module", "print_op",
           "value_names"]
