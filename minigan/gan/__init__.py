"""GAN objectives, regularizers, models and the training loop."""

from . import losses, models, penalties

__all__ = ["losses", "models", "penalties"]
