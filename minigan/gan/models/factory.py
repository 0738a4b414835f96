"""``build(model_name, cfg) -> (G, D)``: the models the trainer and the presets name.

============  ===============================================  ===================================
name          G                                                D
============  ===============================================  ===================================
mlp           MLPGenerator: G(z)                               MLPDiscriminator: D(x) -> (N/pack,)
dcgan         DCGANGenerator: G(z)                             DCGANDiscriminator: D(x)
sngan-resnet  ResNetGenerator: G(z)                            ResNetDiscriminator (SN): D(x)
cgan          ConditionalGenerator: G(z, y)                    ProjectionDiscriminator: D(x, y)
acgan         ConditionalGenerator: G(z, y)                    ACGANDiscriminator:
                                                               D(x) -> (adv (N,), class (N, K))
infogan       InfoGANGenerator: G(latent), latent from         InfoGANDiscriminator: D(x) ->
              ``sample_latent`` / ``G.sample_latent(n)``       (adv, cat_logits, cont_mean
                                                               [, cont_logvar])
============  ===============================================  ===================================

Config keys (a plain dict; keys this module does not use are ignored, missing ones take the
defaults of ``model_defaults(name)``):

=================  ======================================================================
z_dim              noise dimension (mlp 2, dcgan/cgan/acgan 100, sngan-resnet 128, infogan 62)
data_dim           features per sample for the mlp models (2); ``out_dim`` (G) and
                   ``in_dim`` (D) override it for one side
g_hidden, g_layers MLP generator width and hidden layers (128, 3)
g_bn               batch norm in the MLP generator (false)
d_hidden, d_layers MLP discriminator width and hidden layers (128, 3)
d_activation       MLP discriminator activation: leaky_relu | relu | tanh (leaky_relu)
d_sn               spectral norm on every D layer (false; sngan-resnet true)
d_bn               batch norm in the DCGAN discriminator (default: not d_sn)
pack               PacGAN pack size, unconditional models only (1)
image_size         28 | 32 | 64 (28; sngan-resnet 32)
channels           image channels (1; sngan-resnet 3)
base_width         DCGAN width w / ResNet channels (64; sngan-resnet 128)
backbone           cgan/acgan/infogan: mlp | dcgan | resnet (dcgan)
n_classes          classes of the conditional models (10)
cond_mode          conditional G: concat | multiply (concat)
embed_dim          label embedding width for concat (default n_classes)
n_cat, c_dim       InfoGAN categorical categories and continuous codes (10, 2)
q_hidden           InfoGAN Q head width (128)
learn_variance     InfoGAN Q predicts a log-variance for the continuous codes (false)
info_fc            InfoGAN: width of the fully connected layer (BN, ReLU in G / LReLU in D)
                   the paper puts between the latent and G's first layer and between D's
                   trunk and its heads (1024 there); 0 = none (0)
=================  ======================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ... import nn
from ...nn.init import dcgan_init
from .common import maybe_sn, non_negative_int, positive_int
from .conditional import ACGANDiscriminator, ConditionalGenerator, ProjectionDiscriminator
from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_trunk
from .infogan import InfoGANDiscriminator, InfoGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator, mlp_trunk
from .resnet import ResNetDiscriminator, ResNetGenerator, ResNetTrunk, _xavier

MODELS = ("mlp", "dcgan", "sngan-resnet", "cgan", "acgan", "infogan")
BACKBONES = ("mlp", "dcgan", "resnet")

_COMMON = {"z_dim": 100, "data_dim": 2, "out_dim": None, "in_dim": None, "g_hidden": 128,
           "g_layers": 3, "g_bn": False, "d_hidden": 128, "d_layers": 3,
           "d_activation": "leaky_relu", "d_sn": False, "d_bn": None, "pack": 1,
           "image_size": 28, "channels": 1, "base_width": 64, "backbone": "dcgan",
           "n_classes": 10, "cond_mode": "concat", "embed_dim": None, "n_cat": 10, "c_dim": 2,
           "q_hidden": 128, "learn_variance": False, "info_fc": 0}
_PER_MODEL = {
    "mlp": {"z_dim": 2, "backbone": "mlp"},
    "dcgan": {},
    "sngan-resnet": {"z_dim": 128, "d_sn": True, "image_size": 32, "channels": 3,
                     "base_width": 128, "backbone": "resnet"},
    "cgan": {},
    "acgan": {},
    "infogan": {"z_dim": 62},
}
_TYPES = {"g_bn": bool, "d_sn": bool, "d_bn": bool, "learn_variance": bool,
          "d_activation": str, "backbone": str, "cond_mode": str}


def _check_name(model_name: Any) -> str:
    if model_name not in MODELS:
        raise ValueError(f"model_name: unknown model {model_name!r}; expected one of: "
                         f"{', '.join(MODELS)}")
    return model_name


def model_defaults(model_name: str) -> dict:
    """The default of every config key ``build(model_name, ...)`` reads (d_bn None means
    "not d_sn", embed_dim None means n_classes)."""
    return {**_COMMON, **_PER_MODEL[_check_name(model_name)]}


def _resolve(model_name: str, cfg: Mapping | None) -> dict:
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, Mapping):
        raise TypeError(f"cfg: expected a mapping of config keys, got {type(cfg).__name__}")
    c = model_defaults(model_name)
    c.update({k: v for k, v in cfg.items() if k in c})
    for key, kind in _TYPES.items():
        if c[key] is not None and not isinstance(c[key], kind):
            raise ValueError(f"config key {key!r}: expected {kind.__name__}, got {c[key]!r}")
    for key in ("out_dim", "in_dim"):
        if c[key] is None:
            c[key] = c["data_dim"]
    if c["d_bn"] is None:
        c["d_bn"] = not c["d_sn"]
    if c["backbone"] not in BACKBONES:
        raise ValueError(f"config key 'backbone': expected one of {', '.join(BACKBONES)}, "
                         f"got {c['backbone']!r}")
    return c


def _generator(c: dict, z_in: int) -> nn.Module:
    if c["backbone"] == "mlp":
        return MLPGenerator(z_in, c["g_hidden"], c["g_layers"], c["out_dim"], c["g_bn"])
    if c["backbone"] == "dcgan":
        return DCGANGenerator(z_in, c["channels"], c["image_size"], c["base_width"])
    return ResNetGenerator(z_in, c["channels"], c["image_size"], c["base_width"])


def _fc_generator(c: dict, latent: int, fc: int) -> nn.Module:
    """Linear(latent, fc) -> BN -> ReLU -> the backbone generator on fc inputs (InfoGAN's
    MNIST generator: FC 1024 before FC 7x7x128)."""
    first = nn.Sequential(nn.Linear(latent, fc, bias=False), nn.BatchNorm1d(fc), nn.ReLU())
    if c["backbone"] == "dcgan":
        dcgan_init(first)
    return nn.Sequential(first, _generator(c, fc))


def _trunk(c: dict) -> tuple[nn.Module, int]:
    if c["backbone"] == "mlp":
        return mlp_trunk(c["in_dim"], c["d_hidden"], c["d_layers"], c["d_sn"],
                         c["d_activation"])
    if c["backbone"] == "dcgan":
        return dcgan_trunk(c["channels"], c["image_size"], c["base_width"], c["d_sn"],
                           c["d_bn"])
    trunk = ResNetTrunk(c["channels"], c["image_size"], c["base_width"], c["d_sn"])
    return trunk, trunk.feature_dim


def _init_heads(D: nn.Module, heads: list, backbone: str) -> nn.Module:
    """Initialise the heads a conditional / InfoGAN D adds as its backbone expects."""
    if backbone == "dcgan":
        dcgan_init(D)
    elif backbone == "resnet":
        for h in heads:
            _xavier(h, 1.0)
    return D


def build(model_name: str, cfg: Mapping | None = None) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator called ``model_name`` (see the module docstring for the
    names, call signatures and config keys), float32, on the CPU (``.to(...)`` them)."""
    c = _resolve(_check_name(model_name), cfg)
    pack = positive_int("pack", c["pack"])
    if model_name == "mlp":
        G = MLPGenerator(c["z_dim"], c["g_hidden"], c["g_layers"], c["out_dim"], c["g_bn"])
        D = MLPDiscriminator(c["in_dim"], c["d_hidden"], c["d_layers"], pack, c["d_sn"],
                             c["d_activation"])
        return G, D
    if model_name == "dcgan":
        G = DCGANGenerator(c["z_dim"], c["channels"], c["image_size"], c["base_width"])
        D = DCGANDiscriminator(c["channels"], c["image_size"], c["base_width"], c["d_sn"],
                               c["d_bn"], pack)
        return G, D
    if model_name == "sngan-resnet":
        G = ResNetGenerator(c["z_dim"], c["channels"], c["image_size"], c["base_width"])
        D = ResNetDiscriminator(c["channels"], c["image_size"], c["base_width"], c["d_sn"],
                                pack)
        return G, D
    if pack != 1:
        raise ValueError(f"config key 'pack': PacGAN packing is for the unconditional models "
                         f"(mlp, dcgan, sngan-resnet); {model_name} needs pack = 1, got {pack}")
    z = positive_int("z_dim", c["z_dim"])
    if model_name == "infogan":
        latent, fc = z + c["n_cat"] + c["c_dim"], non_negative_int("info_fc", c["info_fc"])
        G = InfoGANGenerator(_fc_generator(c, latent, fc) if fc else _generator(c, latent), z,
                             c["n_cat"], c["c_dim"])
        trunk, feat = _trunk(c)
        if fc:  # trunk -> Linear(F, fc) -> BN -> LReLU(0.2): the heads read fc features
            trunk = nn.Sequential(trunk, maybe_sn(nn.Linear(feat, fc, bias=False), c["d_sn"]),
                                  nn.BatchNorm1d(fc), nn.LeakyReLU(0.2))
            feat = fc
        D = InfoGANDiscriminator(trunk, feat, c["n_cat"], c["c_dim"], c["q_hidden"],
                                 c["learn_variance"], c["d_sn"])
        return G, _init_heads(D, [D.adv, D.q[0], D.q[3]], c["backbone"])
    mode, k = c["cond_mode"], positive_int("n_classes", c["n_classes"])
    embed = z if mode == "multiply" else (k if c["embed_dim"] is None else c["embed_dim"])
    z_in = z + positive_int("embed_dim", embed) if mode == "concat" else z
    G = ConditionalGenerator(_generator(c, z_in), z, k, mode, embed)
    trunk, feat = _trunk(c)
    if model_name == "cgan":
        D = ProjectionDiscriminator(trunk, feat, k, c["d_sn"])
        return G, _init_heads(D, [D.psi], c["backbone"])
    D = ACGANDiscriminator(trunk, feat, k, c["d_sn"])
    return G, _init_heads(D, [D.adv, D.cls], c["backbone"])
