"""Figures as a person reads them: one module every floor may use (reports, estimates, the CLI)."""

from __future__ import annotations


def readable_time(milliseconds: float) -> str:
    """``0.62 µs`` below a millisecond, ``1.4 ms`` above: small models run in microseconds."""
    return f"{milliseconds * 1e3:.3g} µs" if milliseconds < 1 else f"{milliseconds:.3g} ms"
