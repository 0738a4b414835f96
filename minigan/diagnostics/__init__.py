"""Tools for looking inside backprop: gradient checks, graph printing, training telemetry."""

from . import gradcheck

__all__ = ["gradcheck"]
