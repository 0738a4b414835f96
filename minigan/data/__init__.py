"""Datasets: toy 2-D mixtures and real-image readers."""

from . import toy

__all__ = ["toy"]
