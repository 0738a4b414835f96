"""GAN model families built with ``minigan.nn``, one family per module, and ``build``.

* ``mlp``: MLPGenerator, MLPDiscriminator (2-D data; PacGAN packing)
* ``dcgan``: DCGANGenerator, DCGANDiscriminator (28x28, 32x32, 64x64)
* ``resnet``: ResNetGenerator, ResNetDiscriminator (SNGAN-style, 32x32)
* ``conditional``: ConditionalGenerator, ProjectionDiscriminator, ACGANDiscriminator
* ``infogan``: InfoGANGenerator, InfoGANDiscriminator, sample_latent, infogan_mi_loss
* ``factory``: ``build(model_name, cfg) -> (G, D)``

Every discriminator returns its adversarial logits with shape (N,) (N / pack with PacGAN), so
``minigan.gan.losses`` and ``minigan.gan.penalties`` apply directly; for the ones with extra
inputs or outputs pass e.g. ``lambda x: D(x, y)`` or ``lambda x: D(x)[0]`` to a penalty.
Parameter names are PyTorch's (``net.0.weight``, ``trunk.2.weight_orig``, ``head.bias``).
"""

from .common import pack_samples
from .conditional import ACGANDiscriminator, ConditionalGenerator, ProjectionDiscriminator
from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_trunk
from .factory import BACKBONES, MODELS, build, model_defaults
from .infogan import (InfoGANDiscriminator, InfoGANGenerator, infogan_latent, infogan_mi_loss,
                      sample_latent)
from .mlp import MLPDiscriminator, MLPGenerator, mlp_trunk
from .resnet import ResNetDiscriminator, ResNetGenerator, ResNetTrunk

__all__ = [
    "ACGANDiscriminator", "BACKBONES", "ConditionalGenerator", "DCGANDiscriminator",
    "DCGANGenerator", "InfoGANDiscriminator", "InfoGANGenerator", "MLPDiscriminator",
    "MLPGenerator", "MODELS", "ProjectionDiscriminator", "ResNetDiscriminator",
    "ResNetGenerator", "ResNetTrunk", "build", "dcgan_trunk", "infogan_latent",
    "infogan_mi_loss", "mlp_trunk", "model_defaults", "pack_samples", "sample_latent",
]
