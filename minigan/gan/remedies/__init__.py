"""Mode-collapse remedies, each behind config keys, hooked into the training loop.

=====================  ==========================================================================
keys                   remedy
=====================  ==========================================================================
n_generators, mgan_    a mixture of k generators and a classifier head on D's features that tells
beta                   them apart (MGAN; ``mixture``)
n_discriminators,      k discriminators, the generator's losses against them combined by mean,
d_combine, d_combine_  max or GMAN's soft mean with its lambda (``ensemble``)
lambda
d_mbstd                minibatch standard deviation layer, group size (0 = off; Karras et al.)
d_mbdisc, mbdisc_dim   minibatch discrimination, B kernels of dimension C (0 = off; Salimans)
g_objective, fm_weight the generator's loss: adversarial | feature_matching | both (Salimans'
                       feature matching on D's features, weighted by fm_weight)
unroll_steps,          the generator's loss through k differentiable D updates, SGD or Adam
unroll_optimizer       (Metz et al.; ``unrolled``)
=====================  ==========================================================================

The trainer calls four hooks: ``build_models`` for its models, ``Remedies.d_step`` around its D
step, ``Remedies.d_extra`` inside it and ``Remedies.g_loss`` for the generator's loss. Extra
generators, discriminators and heads are submodules of G and D, so the trainer's optimizers,
EMA and checkpoints hold them without further hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ... import nn
from ...nn.init import dcgan_init
from ...nn.minibatch import MinibatchDiscrimination, MinibatchStdDev
from ...ops import mean as _mean
from ...ops import sum as _sum
from ...tensor import Tensor, no_grad
from ..config import ConfigError
from ..models.common import maybe_sn
from . import ensemble, mixture, unrolled

PLAIN = ("mlp", "dcgan", "sngan-resnet")
MINIBATCH_MODELS = ("mlp", "dcgan")
OBJECTIVES = ("adversarial", "feature_matching", "both")


def _flat(out: Any) -> Tensor:
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(-1)


def add_minibatch_layers(D: Any, model_name: str, cfg: dict) -> Any:
    """D with a minibatch stddev layer (``d_mbstd`` = group size) and/or minibatch
    discrimination (``d_mbdisc`` = kernels) between its trunk and a new, wider head."""
    g, b = cfg.get("d_mbstd", 0), cfg.get("d_mbdisc", 0)
    if not g and not b:
        return D
    if model_name not in MINIBATCH_MODELS:
        raise ConfigError(f"config keys 'd_mbstd'/'d_mbdisc': minibatch layers are for the "
                          f"{' and '.join(MINIBATCH_MODELS)} discriminators, not {model_name!r}")
    layers, width = list(D.trunk), D.feature_dim
    if g:
        if model_name == "dcgan":  # on the conv features, one more channel, before Flatten
            side = 7 if D.image_size == 28 else 4
            layers = [*layers[:-1], MinibatchStdDev(g), layers[-1]]
            width += side * side
        else:
            layers.append(MinibatchStdDev(g))
            width += 1
    if b:
        mbd = MinibatchDiscrimination(width, b, cfg.get("mbdisc_dim", 5))
        layers.append(mbd)
        width = mbd.out_features
    D.trunk = nn.Sequential(*layers)
    D.head = maybe_sn(nn.Linear(width, 1), bool(cfg.get("d_sn", False)))
    D.feature_dim = width
    if model_name == "dcgan":
        dcgan_init(D.head)
    return D


def build_models(model_name: str, cfg: dict,
                 build: Callable[[str, dict], tuple] | None = None) -> tuple[Any, Any]:
    """``models.build`` plus the remedies' models: a MixtureGenerator of ``n_generators``
    generators (with D's ``gen_classifier`` head), a DiscriminatorEnsemble of
    ``n_discriminators``, minibatch layers in every D."""
    if build is None:
        from ..models import build
    kg, kd = cfg.get("n_generators", 1), cfg.get("n_discriminators", 1)
    remedy = kg > 1 or kd > 1 or cfg.get("d_mbstd", 0) or cfg.get("d_mbdisc", 0)
    if remedy and model_name not in PLAIN:
        raise ConfigError(f"the mode-collapse remedies' model keys work with the unconditional "
                          f"models ({', '.join(PLAIN)}), not {model_name!r}")
    G, D = build(model_name, cfg)
    D = add_minibatch_layers(D, model_name, cfg)
    if kd > 1:
        D = ensemble.DiscriminatorEnsemble(
            [D] + [add_minibatch_layers(build(model_name, cfg)[1], model_name, cfg)
                   for _ in range(kd - 1)])
    if kg > 1:
        if kd > 1:
            raise ConfigError("config keys 'n_generators' and 'n_discriminators': use one of "
                              "them at a time (the generator classifier sits on a single D)")
        if cfg.get("pack", 1) != 1:
            raise ConfigError("config key 'n_generators': the generator classifier needs "
                              "pack = 1 (a packed D input mixes generators)")
        G = mixture.MixtureGenerator([G] + [build(model_name, cfg)[0] for _ in range(kg - 1)])
        D.gen_classifier = nn.Linear(D.feature_dim, kg)
    return G, D


def feature_matching_loss(D: Any, real: Tensor, fake: Tensor) -> Tensor:
    """||mean_n phi(real_n) - mean_n phi(fake_n)||^2 with phi = D's features (the input of its
    last layer): Salimans et al. 2016, section 3.1. The real side is a constant."""
    with no_grad():
        mu_r = _mean(D.features(real), 0)
    d = mu_r - _mean(D.features(fake), 0)
    return _sum(d * d)


class Remedies:
    """The trainer's hooks (module docstring); checks the key combinations once."""

    def __init__(self, trainer: Any) -> None:
        self.tr = tr = trainer
        cfg = tr.cfg
        self.ensemble = isinstance(tr.D, ensemble.DiscriminatorEnsemble)
        self.mixture = isinstance(tr.G, mixture.MixtureGenerator)
        self.objective = cfg.get("g_objective", "adversarial")
        self.unroll = cfg.get("unroll_steps", 0)
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"config key 'g_objective': expected one of "
                              f"{', '.join(OBJECTIVES)}, got {self.objective!r}")
        if cfg.get("d_combine", "mean") not in ensemble.COMBINE:
            raise ConfigError(f"config key 'd_combine': expected one of "
                              f"{', '.join(ensemble.COMBINE)}, got {cfg['d_combine']!r}")
        if cfg.get("unroll_optimizer", "adam") not in unrolled.OPTIMIZERS:
            raise ConfigError(f"config key 'unroll_optimizer': expected one of "
                              f"{', '.join(unrolled.OPTIMIZERS)}, got {cfg['unroll_optimizer']!r}")
        fm = self.objective != "adversarial"
        if (fm or self.unroll) and cfg["model"] not in PLAIN:
            raise ConfigError(f"config keys 'g_objective'/'unroll_steps': for the unconditional "
                              f"models ({', '.join(PLAIN)}), not {cfg['model']!r}")
        if self.ensemble and (fm or self.unroll):
            raise ConfigError("config key 'n_discriminators': feature matching and unrolling "
                              "take a single discriminator")
        active = self.ensemble or self.mixture or fm or self.unroll
        if active and type(tr.dist).__name__ != "Local":
            raise ConfigError("the mode-collapse remedies run in a single process (not under "
                              "mpiexec)")

    # ---- D step ------------------------------------------------------------------------------
    def d_step(self) -> dict:
        """One D step; with an ensemble, one for each member in turn (trainer.D swapped)."""
        tr = self.tr
        if not self.ensemble:
            return tr._d_step()
        whole, recs = tr.D, []
        try:
            for member in whole.members:
                tr.D = member
                recs.append(tr._d_step())
        finally:
            tr.D = whole
        # The logged figures: the members' mean.
        return {k: sum(r[k] for r in recs) / len(recs) for k in recs[0]}

    def d_extra(self, fake: Tensor) -> Any:
        """MGAN: beta * the classifier's cross entropy on the fakes of this D step (trains D's
        trunk and the classifier head)."""
        if not self.mixture:
            return 0.0
        return self.tr.cfg["mgan_beta"] * mixture.classifier_loss(
            self.tr.D, fake, self.tr.G.last_index)

    # ---- G step ------------------------------------------------------------------------------
    def g_loss(self, fake: Tensor, cond: Any, f: Tensor, real_logits: Tensor | None) -> Tensor:
        """The generator's loss on ``fake`` (D's logits ``f`` already computed)."""
        tr, cfg = self.tr, self.tr.cfg
        index = tr.G.last_index if self.mixture else None  # before the unroll draws again
        if self.unroll:
            f, real_logits = self._unrolled_logits(fake, cond)
        if self.ensemble:
            loss = ensemble.combined_g_loss(tr.loss, f, real_logits, tr.D.k, cfg["d_combine"],
                                            cfg["d_combine_lambda"])
        else:
            loss = tr.loss.g_loss(f, real_logits)
        if self.objective != "adversarial":
            fm = cfg["fm_weight"] * self.feature_matching(fake)
            loss = fm if self.objective == "feature_matching" else loss + fm
        if self.mixture:
            loss = loss + cfg["mgan_beta"] * mixture.classifier_loss(tr.D, fake, index)
        return loss

    def feature_matching(self, fake: Tensor) -> Tensor:
        """``feature_matching_loss`` against a fresh real batch."""
        tr = self.tr
        real, _ = tr.dist.local_batch(tr.source.real_batch(tr.cfg["batch_size"]))
        return feature_matching_loss(tr.D, real, fake)

    def _unrolled_logits(self, fake: Tensor, cond: Any) -> tuple[Tensor, Tensor | None]:
        tr, src, cfg = self.tr, self.tr.source, self.tr.cfg
        n = cfg["batch_size"]

        def d_loss(Dm: Any, j: int) -> Tensor:
            real, rc = tr.dist.local_batch(src.real_batch(n))
            fk, fc = src.generate(tr.G, n)  # G's graph kept: theta_k depends on G
            return tr.loss.d_loss(_flat(src.call_d(Dm, real, rc)), _flat(src.call_d(Dm, fk, fc)))

        group = tr.opt_d.param_groups[0]
        Du = unrolled.unrolled_copy(tr.D)
        theta = unrolled.unroll(Du, d_loss, self.unroll, cfg["unroll_optimizer"], group["lr"],
                                group["betas"], group["eps"], unrolled.adam_state(tr.opt_d, tr.D))
        with unrolled.substituted(Du, theta):
            f = _flat(src.call_d(Du, fake, cond))
            real_logits = None
            if tr.loss.needs_real_for_g:
                real, rc = tr.dist.local_batch(src.real_batch(n))
                real_logits = _flat(src.call_d(Du, real, rc)).detach()
        return f, real_logits
