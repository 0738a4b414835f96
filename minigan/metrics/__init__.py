"""Quality and mode-collapse metrics."""

from . import modes

__all__ = ["modes"]
