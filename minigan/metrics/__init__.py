"""Quality and mode-collapse metrics."""

from . import classifier, images, modes, stacked

__all__ = ["classifier", "images", "modes", "stacked"]
