"""Per recipe of a run on labeled images: top-1 with its interval, the paired drop against fp32, agreement.

Computed from the per-image top-1 predictions `accuracy_of` keeps. The drop is a paired comparison (McNemar's
exact test, Newcombe's interval: `evaluate.significance`), so the two accuracies are paired image by image: by
`Accuracy.ids` (each image's path relative to the data root) when both carry them, whatever order the images came
back in, and two accuracies over different image sets are refused; by position only when ids were not recorded
(one `accuracy_of` call: every model saw the same images in the same order). Agreement is the fraction of these
images on which the recipe's top-1 class equals fp32's, whatever the label: a backend that answers differently on
more than a few images is flagged even when its accuracy happens to hold, because a silent wrong answer from one
runtime must not pass as a speedup.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from swinprof.evaluate.imagefolder import Accuracy
from swinprof.evaluate.significance import ALPHA, Rate, paired
from swinprof.measure.stats import StatisticsError

MIN_AGREEMENT = 0.97  # top-1 agreement with fp32 below this is flagged (int8 of a healthy backend: > 0.99 here)


def _correct(a: Accuracy) -> np.ndarray:
    """`(samples,)` bool: top-1 right per image."""
    return np.asarray(a.predictions) == np.asarray(a.labels)


def alignment(base: Accuracy, other: Accuracy) -> np.ndarray:
    """Indices into `other`'s per-image results that line them up with `base`'s images `(samples,)`.

    By id when both carry ids (StatisticsError when they scored different images); by position otherwise."""
    n = len(base.predictions)
    if base.ids and other.ids:
        if tuple(base.ids) == tuple(other.ids):
            return np.arange(n)
        position = {image: i for i, image in enumerate(other.ids)}
        missing = [image for image in base.ids if image not in position]
        if missing or len(position) != len(base.ids):
            extra = len(set(other.ids) - set(base.ids))
            raise StatisticsError(f"cannot pair two accuracies over different image sets: {len(missing)} image(s) "
                                  f"only in the baseline{f' (e.g. {missing[0]!r})' if missing else ''}, {extra} only "
                                  "in the other")  # fmt: skip
        order = np.fromiter((position[image] for image in base.ids), dtype=np.int64, count=n)
    else:
        if len(other.predictions) != n:
            raise StatisticsError(f"cannot pair two accuracies over {n} and {len(other.predictions)} images (and "
                                  "without image ids)")  # fmt: skip
        order = np.arange(n)
    if not np.array_equal(np.asarray(base.labels), np.asarray(other.labels)[order]):
        raise StatisticsError("two accuracies give the same images different labels: they were not scored against "
                              "the same labels")  # fmt: skip
    return order


def agreement(a: Accuracy, b: Accuracy, order: np.ndarray | None = None) -> float:
    """Fraction of images with the same top-1 class (paired by image: `order` from `alignment(a, b)`, worked out
    here when not given)."""
    order = alignment(a, b) if order is None else order
    return float(np.mean(np.asarray(a.predictions) == np.asarray(b.predictions)[order]))


def recipe_accuracy_frame(accuracy: dict[str, Accuracy], baseline: str, min_agreement: float = MIN_AGREEMENT,
                          alpha: float = ALPHA) -> pd.DataFrame:  # fmt: skip
    """One row per model: top-1 % with its Wilson interval, the paired drop vs `baseline` with interval and
    McNemar p, discordant images, top-1 agreement with the baseline, and a flag."""
    base = accuracy[baseline]
    rows = []
    for name, a in accuracy.items():
        top1 = Rate(int(np.count_nonzero(_correct(a))), a.samples)
        low, high = top1.interval
        row = {"recipe": name, "images": a.samples, "top-1 %": top1.percent, "top-1 95% CI": f"[{low:.1f}, {high:.1f}]",
               "top-5 %": a.acc5}  # fmt: skip
        if name != baseline:
            order = alignment(base, a)
            d = paired(_correct(base), _correct(a)[order], alpha=alpha)
            dl, dh = d.interval
            agree = agreement(base, a, order)
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
        "images (paired by image id), with Newcombe's paired 95% interval and McNemar's exact two-sided p on the "
        f"discordant images (lost = fp32 right / recipe wrong, gained = the reverse), significant at p < {ALPHA:g}; "
        "top-1 agree: images where the recipe's top-1 class equals fp32's")  # fmt: skip
