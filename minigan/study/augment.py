"""``minigan study augment``: does a class-conditional GAN's output help a classifier trained
on few labels?

For each n (labelled images per class) and seed:

1. draw n images of each class from the train split of ``dataset`` (the offline MNIST digits
   by default; any labelled dataset the applications read, :mod:`minigan.gan.apps.data`:
   full MNIST, Fashion-MNIST, CIFAR-10, an image folder with class subfolders; seeded,
   :func:`minigan.gan.apps.ssgan.labelled_subset`);
2. **baseline**: train the digit classifier (:class:`minigan.metrics.classifier.DigitClassifier`)
   on them alone -- ``clf_steps`` Adam steps on batches of 64 drawn with replacement, random
   affine augmentation (:data:`minigan.gan.apps.ssgan.AUGMENT`), linear learning-rate decay;
3. **GAN**: train a small class-conditional GAN on the same 10 n digits (conditional DCGAN
   generator, projection discriminator with spectral norm, hinge loss; ``gan_steps`` steps),
   then draw ``synthetic_per_class`` samples of each class from it;
4. **augmented**: train the same classifier, same steps and seed, with ``synthetic_fraction``
   of every batch drawn from the GAN's labelled samples;
5. score both on the held-out test images (``n_test`` of them, evenly spaced: the digits'
   test split is sorted by class, so every class is in).

Outputs: a Markdown table (mean +- std over seeds) on stdout, ``augment.json`` (every run and
the settings) and ``augment.md`` in ``--out``.
"""

from __future__ import annotations

import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import random as mgrandom
from ..tensor import Tensor, no_grad

# The conditional GAN: small, so that a study of 9 runs fits in minutes on a laptop core.
GAN = {"z_dim": 32, "base_width": 16, "d_sn": True, "n_classes": 10, "lr": 5e-4,
       "betas": (0.5, 0.999), "batch_size": 64}


def train_cgan(images: np.ndarray, labels: np.ndarray, steps: int, seed: int,
               n_classes: int = 10) -> Any:
    """A class-conditional GAN trained on ``images``/``labels`` (``n_classes`` classes) for
    ``steps`` (one D and one G update each, hinge loss); returns the generator, in eval mode.
    minigan's random state is restored afterwards."""
    from ..gan import losses, models
    from ..optim import Adam

    saved = mgrandom.get_rng_state()
    try:
        mgrandom.manual_seed(seed)
        G, D = models.build("cgan", {**GAN, "n_classes": n_classes,
                                     "channels": int(images.shape[1]),
                                     "image_size": int(images.shape[-1])})
        opt_g = Adam(G.parameters(), lr=GAN["lr"], betas=GAN["betas"])
        opt_d = Adam(D.parameters(), lr=GAN["lr"], betas=GAN["betas"])
        hinge = losses.get("hinge")
        rng = np.random.default_rng([seed, 6])
        b = GAN["batch_size"]
        for _ in range(steps):
            idx = rng.integers(0, len(labels), b)
            y_real = Tensor(labels[idx])
            y_fake = Tensor(rng.integers(0, n_classes, b))
            with no_grad():
                fake = G(mgrandom.randn(b, GAN["z_dim"]), y_fake)
            d = hinge.d_loss(D(Tensor(images[idx]), y_real), D(fake, y_fake))
            opt_d.zero_grad()
            d.backward()
            opt_d.step()
            y_fake = Tensor(rng.integers(0, n_classes, b))
            g = hinge.g_loss(D(G(mgrandom.randn(b, GAN["z_dim"]), y_fake), y_fake))
            opt_g.zero_grad()
            D.zero_grad()
            g.backward()
            opt_g.step()
    finally:
        mgrandom.set_rng_state(saved)
    G.eval()
    return G


def synthesize(G: Any, per_class: int, seed: int,
               n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` samples of each class from the conditional generator G: (images, labels)."""
    rng = np.random.default_rng([seed, 7])
    y = np.repeat(np.arange(n_classes), per_class)
    z = rng.standard_normal((len(y), GAN["z_dim"])).astype(np.float32)
    out = []
    with no_grad():
        for i in range(0, len(y), 500):
            out.append(G(Tensor(z[i:i + 500]), Tensor(y[i:i + 500])).numpy())
    return np.concatenate(out), y


def run_one(n: int, seed: int, clf_steps: int, gan_steps: int, synthetic_per_class: int,
            synthetic_fraction: float, data: Any = None) -> dict:
    """One (n, seed) cell: baseline and augmented held-out accuracies, and the time taken."""
    from ..data.digits import load_digits
    from ..gan.apps.data import classes_of
    from ..gan.apps.ssgan import labelled_subset, train_baseline

    train, test = data if data is not None else (load_digits("train"), load_digits("test"))
    k = max(classes_of(train.labels), classes_of(test.labels))
    idx = labelled_subset(train.labels, n, seed, k)
    x, y = train.images[idx], train.labels[idx]
    t0 = time.perf_counter()
    base = train_baseline(x, y, clf_steps, 64, 1e-3, seed, n_classes=k)
    t1 = time.perf_counter()
    G = train_cgan(x, y, gan_steps, seed, k)
    syn = synthesize(G, synthetic_per_class, seed, k)
    t2 = time.perf_counter()
    aug = train_baseline(x, y, clf_steps, 64, 1e-3, seed, synthetic=syn,
                         synthetic_fraction=synthetic_fraction, n_classes=k)
    t3 = time.perf_counter()
    return {"n": n, "seed": seed, "baseline": base.accuracy(test.images, test.labels),
            "augmented": aug.accuracy(test.images, test.labels),
            # The baseline's opinion of the GAN's samples: do they carry their labels?
            "synthetic_label_agreement": float(
                (base.predict_proba(syn[0]).argmax(1) == syn[1]).mean()),
            "seconds": {"classifier": round(t1 - t0, 1), "gan": round(t2 - t1, 1),
                        "augmented_classifier": round(t3 - t2, 1)}}


def summarize(runs: list[dict]) -> list[dict]:
    """Per n: mean and sample std over seeds of both accuracies and of their difference."""
    rows = []
    for n in sorted({r["n"] for r in runs}):
        rs = [r for r in runs if r["n"] == n]
        row: dict[str, Any] = {"n": n, "seeds": len(rs)}
        for key in ("baseline", "augmented"):
            v = np.array([r[key] for r in rs])
            row[key] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1
                        else 0.0}
        d = np.array([r["augmented"] - r["baseline"] for r in rs])
        row["gain"] = {"mean": float(d.mean()), "std": float(d.std(ddof=1)) if len(d) > 1
                       else 0.0}
        rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    def pct(s: dict) -> str:
        return f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}"

    lines = ["| labels per class | seeds | classifier alone (%) | + cGAN samples (%) | "
             "gain (points) |", "|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['n']} | {r['seeds']} | {pct(r['baseline'])} | {pct(r['augmented'])} | "
              f"{100 * r['gain']['mean']:+.1f} ± {100 * r['gain']['std']:.1f} |" for r in rows]
    return "\n".join(lines)


def run_study(ns: list[int], seeds: list[int], clf_steps: int, gan_steps: int,
              synthetic_per_class: int = 100, synthetic_fraction: float = 0.5,
              out: str | pathlib.Path | None = None, n_test: int = 1000,
              log: Callable[[str], None] | None = None, dataset: str = "digits") -> dict:
    """Every (n, seed) cell on ``dataset`` (a name :func:`minigan.data.load` reads, with
    labels); writes ``augment.json`` / ``augment.md`` into ``out`` after each cell (a killed
    study keeps what it finished). Returns the document."""
    from ..gan.apps.data import need_labels, split

    for name, v in (("clf_steps", clf_steps), ("gan_steps", gan_steps),
                    ("synthetic_per_class", synthetic_per_class)):
        if v < 1:
            raise ValueError(f"{name}: expected a positive integer, got {v}")
    if not 0 < synthetic_fraction < 1:
        raise ValueError(f"synthetic_fraction: expected a value in (0, 1), got "
                         f"{synthetic_fraction}")
    if not ns or any(n < 1 for n in ns):
        raise ValueError(f"n: expected labels per class >= 1, got {ns}")
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    try:
        train, test = split(dataset, "train"), split(dataset, "test")
        what = "minigan study augment"
        train_y = need_labels(dataset, train.labels, what)
        test_y = need_labels(dataset, test.labels, what)
    except ValueError as e:  # the apps' ConfigError names the config key; here it is --dataset
        raise ValueError(str(e).replace("config key 'dataset'", "dataset")) from None
    fewest = int(np.bincount(train_y).min())
    if max(ns) > fewest:
        raise ValueError(f"n: expected labels per class in 1..{fewest} (the train images of "
                         f"{dataset!r}'s smallest class), got {ns}")
    if n_test < 10:
        raise ValueError(f"n_test: expected at least 10 held-out images, got {n_test}")
    n_test = min(n_test, len(test_y))  # at most the split
    # The digits' test split is sorted by digit: evenly spaced picks keep every class.
    keep = np.unique(np.linspace(0, len(test_y) - 1, n_test).round().astype(int))
    data = (type(test)(train.images, train_y, train.index),
            type(test)(test.images[keep], test_y[keep], test.index[keep]))
    settings = {"dataset": dataset, "clf_steps": clf_steps, "clf_batch": 64, "clf_lr": 1e-3,
                "gan_steps": gan_steps, "gan": {k: list(v) if isinstance(v, tuple) else v
                                                 for k, v in GAN.items()},
                "synthetic_per_class": synthetic_per_class,
                "synthetic_fraction": synthetic_fraction, "n_test": len(data[1].labels)}
    runs: list[dict] = []
    doc: dict[str, Any] = {"settings": settings, "runs": runs, "table": []}
    for n in ns:
        for s in seeds:
            runs.append(run_one(n, s, clf_steps, gan_steps, synthetic_per_class,
                                synthetic_fraction, data))
            if log is not None:
                r = runs[-1]
                log(f"n={n} seed={s}: classifier alone {100 * r['baseline']:.1f}%, "
                    f"+ cGAN samples {100 * r['augmented']:.1f}% ({r['seconds']})")
            doc["table"] = summarize(runs)
            if out is not None:
                write(out, doc)
    return doc


def write(out: str | pathlib.Path, doc: dict) -> dict[str, pathlib.Path]:
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "augment.json", "table": out / "augment.md"}
    paths["json"].write_text(json.dumps(doc, indent=2) + "\n")
    paths["table"].write_text(markdown(doc["table"]) + "\n")
    return paths
