"""Per recipe of a run on labeled images: top-1 with its interval, the paired drop against fp32, agreement.

Computed from the per-image top-1 predictions `accuracy_of` keeps (same images, same order for every model), so
the drop is a paired comparison (McNemar's exact test, Newcombe's interval: `evaluate.significance`). Agreement is
the fraction of these images on which the recipe's top-1 class equals fp32's, whatever the label: a backend that
answers differently on more than a few images is flagged even when its accuracy happens to hold, because a
silent wrong answer from one runtime must not pass as a speedup.
"""

from __future__ import annotations

import pandas as pd

from swinprof.evaluate.imagefolder import Accuracy
from swinprof.evaluate.significance import ALPHA, Rate, paired

MIN_AGREEMENT = 0.97  # top-1 agreement with fp32 below this is flagged (int8 of a healthy backend: > 0.99 here)


def _correct(a: Accuracy) -> list[bool]:
    return [p == y for p, y in zip(a.predictions, a.labels)]


def agreement(a: Accuracy, b: Accuracy) -> float:
    """Fraction of images with the same top-1 class."""
    return sum(p == q for p, q in zip(a.predictions, b.predictions)) / len(a.predictions)


def recipe_accuracy_frame(accuracy: dict[str, Accuracy], baseline: str, min_agreement: float = MIN_AGREEMENT,
                          alpha: float = ALPHA) -> pd.DataFrame:  # fmt: skip
    """One row per model: top-1 % with its Wilson interval, the paired drop vs `baseline` with interval and
    McNemar p, discordant images, top-1 agreement with the baseline, and a flag."""
    base = accuracy[baseline]
    rows = []
    for name, a in accuracy.items():
        top1 = Rate(sum(_correct(a)), a.samples)
        low, high = top1.interval
        row = {"recipe": name, "images": a.samples, "top-1 %": top1.percent, "top-1 95% CI": f"[{low:.1f}, {high:.1f}]",
               "top-5 %": a.acc5}  # fmt: skip
        if name != baseline:
            d = paired(_correct(base), _correct(a), alpha=alpha)
            dl, dh = d.interval
            agree = agreement(base, a)
            row |= {"drop pt": d.drop, "drop 95% CI": f"[{dl:.1f}, {dh:.1f}]", "McNemar p": d.p_value,
                    "lost / gained": f"{d.lost} / {d.gained}", "verdict": str(d).rpartition(", ")[2],
                    "top-1 agree %": 100 * agree,
                    "flag": f"AGREEMENT < {100 * min_agreement:g}%" if agree < min_agreement else ""}  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def agreement_warnings(accuracy: dict[str, Accuracy], baseline: str, min_agreement: float = MIN_AGREEMENT):
    """One line per recipe whose top-1 agreement with the baseline on the labeled images is below the minimum."""
    base = accuracy[baseline]
    out = []
    for name, a in accuracy.items():
        if name != baseline and (agree := agreement(base, a)) < min_agreement:
            out.append(f"{name}: top-1 agrees with {baseline} on only {100 * agree:.1f}% of {a.samples} labeled "
                       f"images (< {100 * min_agreement:g}%): a wrong answer, whatever its speed")  # fmt: skip
    return out


NOTE = ("top-1 95% CI: Wilson score interval over the images; drop = fp32 top-1 - recipe top-1 in points on the same "
        "images, with Newcombe's paired 95% interval and McNemar's exact two-sided p on the discordant images "
        f"(lost = fp32 right / recipe wrong, gained = the reverse), significant at p < {ALPHA:g}; top-1 agree: "
        "images where the recipe's top-1 class equals fp32's")  # fmt: skip
