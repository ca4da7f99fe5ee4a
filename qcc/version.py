"""qcc's version: a leaf module, so that a backend (which writes it into every binary)
can read it without loading the package top level and the driver behind it."""

__version__ = "0.1.0"
