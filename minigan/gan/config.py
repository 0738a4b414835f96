"""Training configuration: typed defaults, TOML presets, overrides, validation.

A config is a flat mapping of known keys. Presets (``minigan/presets/*.toml``) and user files
override the defaults, ``--set key=value`` overrides those; every value is checked against the
type of its default, and unknown keys are refused with the list of valid ones.
"""

from __future__ import annotations

import itertools
import math
import pathlib
import re
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PRESET_DIR = pathlib.Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "grid25"

# key: (default, help). The default's type is the key's type (int keys accept ints only,
# float keys accept ints too).
SCHEMA: dict[str, tuple[Any, str]] = {
    "dataset": ("grid25", "grid25 | ring8 | spiral | digits | mnist-idx:<dir>"),
    "task": ("gan", "what the run trains: gan (see minigan.gan.apps for the applications)"),
    "model": ("mlp", "mlp (2-D data) | dcgan"),
    "loss": ("ns", "minimax | ns | lsgan | wgan | wgan-gp | hinge | ragan"),
    "steps": (10000, "generator updates"),
    "batch_size": (256, "samples per D and G step"),
    "z_dim": (2, "latent dimension"),
    "g_hidden": (128, "MLP generator width"),
    "g_layers": (3, "MLP generator hidden layers"),
    "d_hidden": (128, "MLP discriminator width"),
    "d_layers": (3, "MLP discriminator hidden layers"),
    "base_width": (64, "DCGAN / ResNet width"),
    "backbone": ("dcgan", "network under cgan / acgan / infogan: mlp | dcgan | resnet"),
    "n_classes": (10, "classes of the conditional models (at least the data's)"),
    "n_cat": (10, "InfoGAN categorical code size"),
    "c_dim": (2, "InfoGAN continuous codes (0 = none)"),
    "aux_weight": (1.0, "ACGAN classification loss weight"),
    "info_weight": (1.0, "InfoGAN mutual-information loss weight"),
    "info_fc": (0, "InfoGAN: width of the FC layer before G's first layer and after D's trunk "
                   "(the paper: 1024; 0 = none)"),
    "info_cont_weight": (1.0, "InfoGAN: weight of the continuous codes' term, relative to "
                                 "info_weight (the paper uses less than 1)"),
    "lr_g": (1e-3, "generator learning rate"),
    "lr_d": (1e-3, "discriminator learning rate (TTUR when different)"),
    "beta1": (0.5, "Adam beta1"),
    "beta2": (0.999, "Adam beta2"),
    "lr_decay": ("linear", "linear (to 0 at the last step) | none"),
    "n_critic": (1, "D steps per G step"),
    "gp_weight": (0.0, "gradient penalty weight (WGAN-GP uses 10)"),
    "gp_one_sided": (False, "penalize only gradient norms above 1"),
    "r1_gamma": (0.1, "R1 penalty gamma on real data (0 = off)"),
    "r2_gamma": (0.0, "R2 penalty gamma on fake data (0 = off)"),
    "r1_interval": (1, "lazy R1/R2 (StyleGAN2): the penalty on every k-th D step only, "
                       "weighted k times"),
    "dragan_weight": (0.0, "DRAGAN penalty weight (0 = off)"),
    "clip": (0.0, "WGAN weight clipping bound (0 = off)"),
    "d_sn": (False, "spectral norm on every D layer"),
    "d_bn": ("auto", "batch norm in the DCGAN D: auto (= not d_sn) | on | off"),
    "ema": (0.99, "EMA decay of the generator weights (0 = off)"),
    "pack": (1, "PacGAN: samples concatenated at the D input"),
    "instance_noise": (0.0, "std of Gaussian noise added to D inputs, annealed to 0"),
    "label_smoothing": (0.0, "one-sided: real target 1 - s (BCE losses)"),
    "seed": (0, "random seed"),
    "dtype": ("float32", "floating dtype of weights, data and latents: float32 | float64"),
    "threads": (0, "CPU threads of the run; 0 = auto: 1 for mlp models on native/numba unless "
                   "MINIGAN_NUM_THREADS or OMP_NUM_THREADS is set, else those or every CPU"),
    "sync_bn": (False, "data parallel: BatchNorm statistics over the global batch (else per rank)"),
    "telemetry": (True, "record per-layer gradient/weight norms and spectral norms at log steps"),
    "log_every": (100, "steps between metrics.jsonl records"),
    "sample_every": (2000, "steps between sample pictures"),
    "checkpoint_every": (2000, "steps between checkpoints"),
    "eval_samples": (2500, "samples for the final metrics"),
    # Mode-collapse remedies (minigan.gan.remedies); 0 turns the int ones off.
    "n_generators": (1, "MGAN: a mixture of k generators and a classifier telling them apart"),
    "mgan_beta": (0.125, "MGAN: weight of the generator classifier's cross entropy"),
    "n_discriminators": (1, "GMAN: k discriminators, their feedback combined by d_combine"),
    "d_combine": ("mean", "GMAN: how G combines its losses: mean | max | softmean"),
    "d_combine_lambda": (1.0, "GMAN: lambda of softmean (0 = mean, large = max)"),
    "d_mbstd": (0, "minibatch stddev layer in D (mlp, dcgan): group size (0 = off)"),
    "d_mbdisc": (0, "minibatch discrimination in D (mlp, dcgan): kernels B (0 = off)"),
    "mbdisc_dim": (5, "minibatch discrimination: kernel dimension C"),
    "g_objective": ("adversarial", "G loss: adversarial | feature_matching | both"),
    "fm_weight": (1.0, "weight of the feature-matching term (g_objective)"),
    "unroll_steps": (0, "Unrolled GAN: D updates G's loss looks through (0 = off)"),
    "unroll_optimizer": ("adam", "Unrolled GAN: the unrolled D updates: adam | sgd"),
    "labels_per_class": (10, "ssgan: labelled train digits of each class"),
    "ssgan_baseline": (True, "ssgan: also train the classifier on the labels alone"),
    "cycle_weight": (10.0, "cyclegan: weight of the cycle-consistency L1 loss"),
    "identity_weight": (5.0, "cyclegan: weight of the identity L1 loss (0 = off)"),
    "pool_size": (50, "cyclegan: past fakes kept for the discriminators"),
    "app_eval": (1000, "ssgan, cyclegan: held-out test images scored at the end (at most 1000)"),
    "sr_factor": (4, "sr: upscaling factor, 2 (14x14 -> 28x28) or 4 (7x7 -> 28x28)"),
    "res_blocks": (4, "sr: residual blocks of the generator"),
    "content_loss": ("mse", "sr: pixel loss of the generator: mse | l1"),
    "perceptual_weight": (0.01, "sr: weight of the digit-classifier feature loss (0 = off)"),
    "paired_task": ("edges", "pix2pix: the paired digits task: edges | inpaint"),
    "l1_weight": (100.0, "pix2pix: weight of the L1 loss"),
    "adv_weight": (1.0, "sr, pix2pix: weight of the adversarial loss (0 = content loss only)"),
    "paired_baseline": (True, "sr, pix2pix: also train G without the adversarial loss"),
}


DTYPES = ("float32", "float64")


# Float keys with a domain: (low, high, what is expected). Learning rates must be > 0, the
# rest >= low; every bound above is exclusive. Checked here, so the message names the key.
RANGES: dict[str, tuple[float, float, str]] = {
    **{k: (0.0, math.inf, "a learning rate > 0") for k in ("lr_g", "lr_d")},
    **{k: (0.0, 1.0, "a value in [0, 1)") for k in ("beta1", "beta2", "ema", "label_smoothing")},
    **{k: (0.0, math.inf, "a value >= 0") for k in (
        "cycle_weight", "identity_weight", "perceptual_weight", "l1_weight", "adv_weight",
        "aux_weight", "info_weight", "info_cont_weight", "gp_weight", "r1_gamma", "r2_gamma",
        "dragan_weight", "clip", "instance_noise", "mgan_beta", "d_combine_lambda", "fm_weight")},
}

# Int keys for which 0 means "off" (the others must be positive); threads: 0 is "auto".
ZERO_OFF = ("d_mbstd", "d_mbdisc", "unroll_steps", "n_cat", "c_dim", "info_fc", "threads")
# String keys with a fixed set of values (checked here, so a sweep refuses a typo up front).
CHOICES = {"d_combine": ("mean", "max", "softmean"),
           "g_objective": ("adversarial", "feature_matching", "both"),
           "unroll_optimizer": ("adam", "sgd")}


class ConfigError(ValueError):
    """A bad preset, file, key or value; the message says what was expected."""


def defaults() -> dict:
    return {k: v for k, (v, _) in SCHEMA.items()}


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_description(name: str) -> str:
    """The first sentence of the comment that opens a preset file (whole, across lines)."""
    lines = (PRESET_DIR / f"{name}.toml").read_text().splitlines()
    text = " ".join(ln.lstrip("# ").strip() for ln in itertools.takewhile(
        lambda ln: ln.startswith("#"), lines))
    # A sentence ends at ". " before a capital letter ("et al. 2016" does not end one).
    m = re.search(r"\.\s+(?=[A-Z])", text)
    return text[:m.start() + 1] if m else text


def _valid_keys() -> str:
    return ", ".join(SCHEMA)


def check_value(key: str, value: Any) -> Any:
    """``value`` as the type of ``key``'s default, or a ConfigError naming both."""
    if key not in SCHEMA:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {_valid_keys()}")
    default = SCHEMA[key][0]
    kind = type(default)
    ok = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))) or (
        kind is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise ConfigError(f"config key {key!r}: expected {kind.__name__} "
                          f"(like {default!r}), got {value!r}")
    if key == "dtype" and value not in DTYPES:
        raise ConfigError(f"config key 'dtype': expected one of {', '.join(DTYPES)}, "
                          f"got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"config key {key!r}: expected one of {', '.join(CHOICES[key])}, "
                          f"got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"config key {key!r}: expected a finite number, got {value!r}")
    if key in RANGES:
        lo, hi, what = RANGES[key]
        if not (value > lo if key.startswith("lr_") else value >= lo) or not value < hi:
            raise ConfigError(f"config key {key!r}: expected {what}, got {value!r}")
    if kind is int and key != "seed" and value < (
            0 if key.endswith("every") or key in ZERO_OFF else 1):
        raise ConfigError(f"config key {key!r}: expected a positive integer, got {value}")
    return float(value) if kind is float else value


def parse_value(key: str, text: str) -> Any:
    """Parse ``--set key=text`` by the key's type: TOML syntax, or a bare string."""
    if key not in SCHEMA:
        raise ConfigError(f"unknown config key {key!r}; valid keys: {_valid_keys()}")
    kind = type(SCHEMA[key][0])
    if kind is str:
        return check_value(key, text)  # a string key with a fixed set of values (dtype)
    if kind is bool and text.lower() in ("on", "off", "yes", "no"):
        return text.lower() in ("on", "yes")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"config key {key!r}: expected {kind.__name__}, got {text!r}") from None
    return check_value(key, value)


def load_toml(path: str | pathlib.Path) -> dict:
    path = pathlib.Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a directory, expected a TOML file") \
            from None
    except OSError as e:
        raise ConfigError(f"config file {str(path)!r} cannot be read ({e.strerror or e})") \
            from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: nested too deeply") \
            from None
    return data


def resolve(preset: str | None = None, config_file: str | None = None,
            overrides: list[str] | None = None) -> dict:
    """defaults <- preset <- config file <- ``key=value`` overrides, all validated."""
    cfg = defaults()
    name = preset or DEFAULT_PRESET
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    layers = [load_toml(path)]
    if config_file:
        layers.append(load_toml(config_file))
    for layer in layers:
        for k, v in layer.items():
            cfg[k] = check_value(k, v)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set: expected key=value, got {item!r}")
        k, text = item.split("=", 1)
        cfg[k.strip()] = parse_value(k.strip(), text.strip())
    cfg["preset"] = name
    return cfg


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(cfg: dict) -> str:
    """The resolved config as TOML text (flat keys, scalars only)."""
    return "".join(f"{k} = {_toml_value(v)}\n" for k, v in cfg.items())
