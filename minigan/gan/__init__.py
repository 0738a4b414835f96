"""GAN objectives, regularizers, models and the training loop."""

from . import losses, penalties

__all__ = ["losses", "penalties"]
