"""The GAN training loop behind ``minigan train``.

One step = ``n_critic`` discriminator updates, then one generator update, then the EMA of the
generator's weights. Everything random (latents, data order, penalty interpolation, instance
noise) comes from generators whose state goes into every checkpoint, so ``--resume`` continues
bitwise like an uninterrupted run on the same backend.

Run directory: ``config.toml``, ``metrics.jsonl``, ``samples/``, ``checkpoints/latest.npz``
(and ``final.npz``), ``loss_curves.png``, ``summary.json``, ``G.safetensors``/``D.safetensors``.

On ``device="cuda"`` the models, optimizer state, data set and latents live on the GPU (models
are built and initialised on the CPU first, so one seed gives the same initial weights on both
devices). A step waits for the GPU only where it must: once after each backward to check that
the loss and gradients are finite (one reduction per gradient, one copy for all flags), and once
to copy that step's metrics (all scalars together); telemetry at log steps adds one copy each.
Latents come from the GPU's own generator, so a CUDA run does not reproduce a CPU run's noise.
"""

from __future__ import annotations

import copy
import json
import math
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import random as mgrandom
from ..backends import allocator
from ..diagnostics import diagnosis, telemetry
from ..ops import cat, softplus
from ..ops import mean as _mean
from ..optim import Adam
from ..tensor import Tensor, array_module, host_values, no_grad
from . import checkpoint, config, losses, penalties, plots, remedies, resources, rundir
from .data_source import make_source


class TrainingError(RuntimeError):
    """Training stopped (NaN/Inf); the message names the step and the tensor."""


def _host_record(rec: dict) -> dict:
    """A step's metrics (device scalars or numbers) as Python floats, in one copy on a GPU."""
    return dict(zip(rec, host_values(*rec.values())))


def _host(a: Any) -> np.ndarray:
    a = a.array if isinstance(a, Tensor) else a  # state_dict values are tensors
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _plus(loss: Tensor, term: Any) -> Tensor:
    """loss + term, where an absent term (the float 0.0 the hooks return) records no op."""
    return loss if isinstance(term, float) and term == 0.0 else loss + term


def _flat_logits(out: Any) -> Tensor:
    out = out[0] if isinstance(out, tuple) else out
    return out.reshape(-1)


class Trainer:
    def __init__(self, cfg: dict, out_dir: str | pathlib.Path, progress: bool = True,
                 device: str = "cpu", dist: Any = None) -> None:
        """``dist``: the data-parallel hooks of this rank (minigan.distributed.for_training);
        None is a single process."""
        from ..distributed.data_parallel import Local
        from . import models

        if device not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda', got {device!r}")
        if device == "cuda":
            from ..backends import require_cupy

            require_cupy()  # one RuntimeError naming what is missing, before any work
        self.cfg = cfg
        self.device = device
        self.out = pathlib.Path(out_dir)
        self.progress_enabled = progress
        mgrandom.manual_seed(cfg["seed"])
        self.source = make_source(cfg, device)
        # The config plus what the data decides (channels, image size, classes): enough to
        # rebuild the models from a checkpoint without the data (``minigan sample``).
        if cfg["d_bn"] not in ("auto", "on", "off"):
            raise config.ConfigError(f"config key 'd_bn': expected auto, on or off, got "
                                     f"{cfg['d_bn']!r}")
        self.model_cfg = {**cfg, **self.source.model_keys(),
                          "d_bn": None if cfg["d_bn"] == "auto" else cfg["d_bn"] == "on"}
        self.G, self.D = remedies.build_models(cfg["model"], self.model_cfg, models.build)
        if device != "cpu":
            self.G.to(device)
            self.D.to(device)
        if cfg.get("dtype", "float32") != "float32":
            self.G.to(np.dtype(cfg["dtype"]))  # float64: runs comparable to ~1e-12
            self.D.to(np.dtype(cfg["dtype"]))
        self.G_ema = copy.deepcopy(self.G) if cfg["ema"] > 0 else None
        betas = (cfg["beta1"], cfg["beta2"])
        self.opt_g = Adam(self.G.parameters(), lr=cfg["lr_g"], betas=betas)
        self.opt_d = Adam(self.D.parameters(), lr=cfg["lr_d"], betas=betas)
        self.loss = losses.get(cfg["loss"])
        # 'wgan-gp' means WGAN plus the penalty; plain 'wgan' means WGAN with clipping.
        self.gp_weight = cfg["gp_weight"] or (10.0 if cfg["loss"] == "wgan-gp" else 0.0)
        self.clip = cfg["clip"] or (0.01 if cfg["loss"] == "wgan" else 0.0)
        if cfg["label_smoothing"] and self.loss.name not in ("ns", "minimax"):
            raise config.ConfigError("label_smoothing: only meaningful for the BCE losses "
                                     f"(ns, minimax), not {cfg['loss']!r}")
        self.step = 0
        self._recording = False
        self._sigma = {"G": telemetry.SpectralTracker(cfg["seed"]),
                       "D": telemetry.SpectralTracker(cfg["seed"] + 1)}
        self.fixed_z = self.source.fixed_latent(64 if self.source.is_image else 2500)
        self.last: dict[str, float] = {}
        self.dist = dist if dist is not None else Local()
        self.dist.attach(self)  # data parallel: split the batch, same initial weights
        self.remedies = remedies.Remedies(self)  # mode-collapse remedies' hooks (gan.remedies)
        # D(x) depends on its parameters and x alone (no state a forward updates).
        self._d_pure = next(iter(self.D.buffers()), None) is None
        # ... and each output row on its own input rows (no minibatch layers, no remedy that
        # swaps D or reads it apart, an unconditional source): D(real) and D(fake) may run as
        # one batch.
        rem = self.remedies
        self._d_joint = (self._d_pure and getattr(self.source, "joint_d", False)
                         and not cfg.get("d_mbstd", 0) and not cfg.get("d_mbdisc", 0)
                         and not (rem.ensemble or rem.mixture))
        self._lists: dict[tuple, list] = {}  # see _members
        self._critic = 0  # which of the step's n_critic D steps runs (the lazy R1 schedule)

    # ---- one training step ---------------------------------------------------------------
    def _noise_sigma(self) -> float:
        return self.cfg["instance_noise"] * (1 - self.step / self.cfg["steps"])

    def _noise(self, x: Tensor) -> Tensor:
        sigma = self._noise_sigma()
        if sigma <= 0:
            return x
        return x + sigma * mgrandom.randn(*x.shape, dtype=x.dtype, device=x.device)

    def _D(self, x: Tensor, cond: Any) -> Any:
        return self.source.call_d(self.D, self._noise(x), cond)

    def _d_step(self) -> dict:
        cfg, src = self.cfg, self.source
        real, real_cond = self.dist.local_batch(src.real_batch(cfg["batch_size"]))
        with no_grad():
            fake, fake_cond = src.generate(self.G, cfg["batch_size"])
        # R1 differentiates D at the real batch the loss already ran D on: one forward serves
        # both when that forward is D(real) itself -- no instance noise, and a D without buffers
        # (no batch norm statistics, no spectral-norm power iteration: a second forward would
        # update those again, so such a D keeps its own R1 forward as before).
        # Lazy R1/R2 (StyleGAN2, Karras et al. 2020, sec. 3.1): on the last D step of every
        # r1_interval, weighted r1_interval times; the other D steps skip the double backprop.
        k = cfg.get("r1_interval", 1)  # absent in the checkpoints of older runs: eager
        lazy = k if (self.step * cfg["n_critic"] + self._critic) % k == k - 1 else 0
        r1_gamma, r2_gamma = cfg["r1_gamma"] * lazy, cfg["r2_gamma"] * lazy
        share_r1 = bool(r1_gamma) and self._noise_sigma() <= 0 and self._d_pure
        if share_r1:
            real = real.detach().requires_grad_()
        if self._d_joint and not share_r1:
            # One forward and backward of D over real and fake together: the same values, half
            # the ops, and one product per layer for D's weight gradient instead of two summed.
            # (A step with R1 keeps D(real) apart: R1's double backprop needs that graph only.)
            both = _flat_logits(self._D(cat([real, fake]), None))
            n = real.shape[0] // cfg["pack"]  # the real rows' logits (PacGAN: packed rows)
            r, f = both[:n], both[n:]
            out_r, out_f = r, f
        else:
            out_r, out_f = self._D(real, real_cond), self._D(fake, fake_cond)
            r, f = _flat_logits(out_r), _flat_logits(out_f)
        s = cfg["label_smoothing"]
        if s:  # one-sided: BCE against a real target of 1 - s
            d_loss = _mean(softplus(r) - (1 - s) * r) + _mean(softplus(f))
        else:
            d_loss = self.loss.d_loss(r, f)
        d_loss = _plus(_plus(d_loss, src.aux_d_loss(out_r, real_cond, out_f, fake_cond)),
                       self.remedies.d_extra(fake))
        penalty = None
        D = lambda x: _flat_logits(src.call_d(self.D, x, real_cond))  # noqa: E731
        if self.gp_weight:
            penalty = self.gp_weight * penalties.gradient_penalty(
                D, real, fake, one_sided=cfg["gp_one_sided"])
        if share_r1:
            term = penalties.r1_from_logits(r, real, r1_gamma)
            penalty = term if penalty is None else penalty + term
        elif r1_gamma:
            term = penalties.r1_penalty(D, real, r1_gamma)
            penalty = term if penalty is None else penalty + term
        if r2_gamma:
            Df = lambda x: _flat_logits(src.call_d(self.D, x, fake_cond))  # noqa: E731
            term = penalties.r2_penalty(Df, fake, r2_gamma)
            penalty = term if penalty is None else penalty + term
        if cfg["dragan_weight"]:
            term = cfg["dragan_weight"] * penalties.dragan_penalty(D, real)
            penalty = term if penalty is None else penalty + term
        total = d_loss if penalty is None else d_loss + penalty
        self.opt_d.zero_grad()
        total.backward()
        self.dist.average_gradients(self.D)
        self._check("D loss", total, self.D)
        if self._recording:
            self._telemetry["grad_norms_D"] = telemetry.grad_norms(self.D)
        self.opt_d.step()
        if self.clip:
            penalties.clip_weights(self.D.parameters(), self.clip)
        rd, fd = r.array, f.array
        # Device scalars: train_step copies them to the host together.
        return {"d_loss": d_loss.array,
                "penalty": 0.0 if penalty is None else penalty.array,
                **self.dist.logit_stats(rd, fd)}

    def _g_step(self) -> dict:
        cfg, src = self.cfg, self.source
        fake, cond = src.generate(self.G, cfg["batch_size"])
        # G's update needs D's input gradient, not D's weight gradients: with D's parameters
        # out of the graph for this step the backward skips their products (two of the MLP's
        # ~32 large GEMMs a step); G's gradients are the same arithmetic, bit for bit. (The
        # unrolled GAN differentiates copies of D's weights, which require grad themselves.)
        frozen = [p for _, p in self._members(self.D) if p.requires_grad]
        for p in frozen:
            p.requires_grad = False
        try:
            out_f = self._D(fake, cond)
            f = _flat_logits(out_f)
            real_logits = None
            if self.loss.needs_real_for_g:
                real, real_cond = self.dist.local_batch(src.real_batch(cfg["batch_size"]))
                with no_grad():
                    real_logits = _flat_logits(self._D(real, real_cond))
            g_loss = _plus(self.remedies.g_loss(fake, cond, f, real_logits),
                           src.aux_g_loss(out_f, cond))
            self.opt_g.zero_grad()
            g_loss.backward()  # (the engine reads requires_grad here, so D stays frozen)
        finally:
            for p in frozen:
                p.requires_grad = True
        self.dist.average_gradients(self.G)
        self._check("G loss", g_loss, self.G)
        if self._recording:
            self._telemetry["grad_norms_G"] = telemetry.grad_norms(self.G)
        self.opt_g.step()
        return {"g_loss": g_loss.array}

    def _members(self, module: Any, kind: str = "parameters") -> list:
        """A model's named parameters (or buffers), listed once: the trainer's models keep
        theirs for the whole run (load_state_dict copies into them), and walking the module
        tree three times a step cost more than the checks and the EMA themselves."""
        key = (id(module), kind)
        got = self._lists.get(key)
        if got is None:
            got = self._lists[key] = list(getattr(module, "named_" + kind)())
        return got

    def _check(self, what: str, loss: Tensor, module: Any) -> None:
        xp = array_module(loss.array)
        grads = [(name, p.grad.array) for name, p in self._members(module)
                 if p.grad is not None]
        # isfinite per element: a sum or square of large finite values could overflow. All
        # flags are reduced where they live and come back in one copy.
        flags = host_values(xp.isfinite(loss.array).all(),
                            *(array_module(g).isfinite(g).all() for _, g in grads))
        if not flags[0]:
            raise TrainingError(f"step {self.step + 1}: {what} is {host_values(loss.array)[0]}")
        for (name, _), ok in zip(grads, flags[1:]):
            if not ok:
                raise TrainingError(f"step {self.step + 1}: the gradient of "
                                    f"{type(module).__name__}.{name} is not finite ({what})")

    def _update_ema(self) -> None:
        if self.G_ema is None:
            return
        # Warm-up: early on the average would be dominated by the random initial weights (with
        # decay 0.999 they still weigh 30% after 1,200 steps), so the decay grows with the step.
        d = min(self.cfg["ema"], (1 + self.step) / (10 + self.step))
        with no_grad():
            for (_, pe), (_, p) in zip(self._members(self.G_ema), self._members(self.G)):
                pe.array *= d
                pe.array += (1 - d) * p.array
            for (_, be), (_, b) in zip(self._members(self.G_ema, "buffers"),
                                       self._members(self.G, "buffers")):
                be.array[...] = b.array

    def _set_lr(self) -> None:
        if self.cfg["lr_decay"] == "linear":
            frac = 1 - self.step / self.cfg["steps"]
            for opt, key in ((self.opt_g, "lr_g"), (self.opt_d, "lr_d")):
                for g in opt.param_groups:
                    g["lr"] = self.cfg[key] * frac

    def train_step(self, record: bool = False) -> dict:
        """One step; with ``record`` also per-layer gradient and weight telemetry."""
        self._recording = record and self.cfg["telemetry"]
        self._telemetry: dict[str, Any] = {}
        self._set_lr()
        rec: dict[str, Any] = {}
        with self.dist.shard():  # data parallel: this rank's rows of every batch-sized draw
            for self._critic in range(self.cfg["n_critic"]):
                rec = self.remedies.d_step()
            rec.update(self._g_step())
        rec = self.dist.average_record(_host_record(rec))
        self._update_ema()
        self.step += 1
        self.dist.after_step(self)
        if self._recording:
            rec.update(self._summarize_telemetry())
        return rec

    def _summarize_telemetry(self) -> dict:
        t = self._telemetry
        g = telemetry.total_norm(t["grad_norms_G"])
        d = telemetry.total_norm(t["grad_norms_D"])
        return {"grad_norm_G": g, "grad_norm_D": d, "grad_ratio": g / d if d > 0 else math.inf,
                "grad_norms": {"G": t["grad_norms_G"], "D": t["grad_norms_D"]},
                "weight_norms": {"G": telemetry.weight_norms(self.G),
                                 "D": telemetry.weight_norms(self.D)},
                "sigma": {"G": self._sigma["G"].update(self.G),
                          "D": self._sigma["D"].update(self.D)}}

    # ---- state ------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"step": self.step, "config": self.cfg, "model_config": self.model_cfg,
                "G": self.G.state_dict(), "D": self.D.state_dict(),
                "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": mgrandom.get_rng_state(), "source": self.source.state_dict(),
                "fixed_z": list(self.fixed_z),
                "telemetry": {k: t.state_dict() for k, t in self._sigma.items()}}

    def load_state(self, st: dict) -> None:
        try:
            self.G.load_state_dict(st["G"])
            self.D.load_state_dict(st["D"])
            if self.G_ema is not None and st["G_ema"] is not None:
                self.G_ema.load_state_dict(st["G_ema"])
            self.opt_g.load_state_dict(st["opt_g"])
            self.opt_d.load_state_dict(st["opt_d"])
            mgrandom.set_rng_state(st["rng"])
            self.source.load_state_dict(st["source"])
            self.fixed_z = list(st["fixed_z"])
            for k, t in st.get("telemetry", {}).items():  # absent in older checkpoints
                self._sigma[k].load_state_dict(t)
            self.step = int(st["step"])
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise checkpoint.CheckpointError(f"checkpoint does not match this run: {e}") from None

    def save_checkpoint(self, name: str = "latest.npz") -> pathlib.Path:
        path = self.out / "checkpoints" / name
        checkpoint.save(path, self.state())
        return path

    # ---- the run ------------------------------------------------------------------------------
    def sampler(self) -> Any:
        return self.G_ema if self.G_ema is not None else self.G

    def save_samples(self, tag: str) -> pathlib.Path:
        path = self.out / "samples" / f"{tag}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        G = self.sampler()
        G.eval()
        with no_grad():
            x = self.source.generate_from(G, self.fixed_z).numpy()
        G.train()
        self.source.plot(path, x, f"step {self.step}")
        return path

    def run(self, resume: bool = False,
            should_stop: Callable[[], bool] | None = None) -> dict | None:
        """Train to ``cfg["steps"]``; returns the summary, or None when ``should_stop()`` asked
        to stop early (after writing a checkpoint at a step boundary)."""
        allocator.retain_freed_memory()  # each step's arrays reuse the last step's pages
        with resources.run_threads(self.cfg, self.device):  # config key 'threads'
            if not self.dist.is_main:  # data parallel: the same steps, rank 0 alone writes
                return self.dist.follow(self, resume, should_stop)
            should_stop = self.dist.agree(should_stop)
            return rundir.drive(
                self, resume, should_stop, step=lambda record: self.train_step(record=record),
                row=lambda: {"lr_g": self.opt_g.param_groups[0]["lr"],
                             "lr_d": self.opt_d.param_groups[0]["lr"]},
                pictures=self.save_samples,
                status=lambda rec: f"D {rec['d_loss']:.3f} G {rec['g_loss']:.3f}")

    def finish(self, seconds: float) -> dict:
        self.save_checkpoint()
        final_ckpt = self.save_checkpoint("final.npz")
        # From here on the run is saved: an interrupt may stop the evaluation at once, and
        # --resume runs this finish again (see commands.cmd_train's signal handler).
        self.finishing = True
        # sample_every's picture of this very step is the final one (same sampler, same
        # latents, same title): copied, not drawn again (~0.3 s of matplotlib).
        drawn = self.out / "samples" / f"step_{self.step:06d}.png"
        every = self.cfg["sample_every"]
        if every and self.step % every == 0 and drawn.is_file():
            samples = drawn.with_name("final.png")
            shutil.copyfile(drawn, samples)
        else:
            samples = self.save_samples("final")
        curves = self.out / "loss_curves.png"
        plots.loss_curves(curves, self.out / "metrics.jsonl")
        checkpoint.save_safetensors(self.out / "G.safetensors", self._export(self.sampler()))
        checkpoint.save_safetensors(self.out / "D.safetensors", self._export(self.D))
        G = self.sampler()
        G.eval()
        summary = {
            "preset": self.cfg.get("preset"), "steps": self.step,
            "train_seconds": round(seconds, 2), "final_losses": self.last,
            "metrics": self.source.evaluate(G, self.cfg["eval_samples"]),
            "pictures": {"samples": str(samples), "loss_curves": str(curves)},
            "checkpoint": str(final_ckpt), "device": self.device,
        }
        G.train()
        summary["diagnosis"] = diagnosis.diagnose(
            diagnosis.read_rows(self.out / "metrics.jsonl"), summary["metrics"])
        (self.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    @staticmethod
    def _export(module: Any) -> dict:
        return {k: _host(v) for k, v in module.state_dict().items()}
