"""The version of edgekd: one module every floor may read (the package top re-exports it)."""

__version__ = "0.1.0"
