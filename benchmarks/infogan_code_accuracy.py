"""InfoGAN code accuracy during training: how the categorical code aligns with the digit class.

    python benchmarks/infogan_code_accuracy.py NAME STEPS EVERY [key=value ...]

trains the infogan-mnist preset with the ``key=value`` overrides (the trainer's own step) and
every EVERY steps scores the raw and the EMA generator: 1,000 samples from latents of seed 0,
read by the digit classifier, accuracy of the best one-to-one code-to-class map (what
``minigan eval`` reports as code_accuracy). One JSON line per score goes to NAME.jsonl; at the
end the run's checkpoint (``runs/NAME/checkpoints/final.npz``, for ``minigan eval``) and a
sample grid are written. Figures in the README: "InfoGAN code accuracy, tuned".
"""

from __future__ import annotations

import json
import sys
import time

from minigan.gan import config
from minigan.gan.trainer import Trainer
from minigan.metrics.classifier import get_classifier
from minigan.metrics.commands import draw_labelled, label_scores


def main(name: str, steps: int, every: int, overrides: list[str]) -> None:
    cfg = config.resolve("infogan-mnist", overrides=[f"steps={steps}", *overrides])
    tr = Trainer(cfg, f"runs/{name}", progress=False)
    clf = get_classifier()
    t0 = time.time()
    with open(f"{name}.jsonl", "a") as log:
        for step in range(1, steps + 1):
            rec = tr.train_step()
            if step % every and step != steps:
                continue
            row = {"step": step, "sec": round(time.time() - t0, 1)}
            for tag, G in (("G", tr.G), ("ema", tr.G_ema)):
                if G is None:
                    continue
                x, codes = draw_labelled(G, tr.model_cfg, 1000, 0)
                G.train()  # draw_labelled left it in eval mode
                score = label_scores(tr.model_cfg, clf.predict_proba(x).argmax(1), codes)
                row[tag], row[tag + "_map"] = round(score["code_accuracy"], 4), \
                    score["code_to_class"]
            row.update({k: round(float(rec[k]), 3) for k in ("d_loss", "g_loss")})
            print(json.dumps(row), file=log, flush=True)
    tr.save_checkpoint("final.npz")
    tr.save_samples("final")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
