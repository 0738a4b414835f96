"""Tools for looking inside backprop: gradient checks, graph printing, training telemetry."""

from . import gradcheck, graph

__all__ = ["gradcheck", "graph"]
