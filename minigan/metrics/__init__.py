"""Quality and mode-collapse metrics."""

from . import classifier, images, labels, modes, stacked

__all__ = ["classifier", "images", "labels", "modes", "stacked"]
