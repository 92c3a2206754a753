"""The variant table as a DataFrame (what `swinprof models` shows)."""

from __future__ import annotations

import pandas as pd

from swinprof.models.config import VARIANTS


def variant_table() -> pd.DataFrame:
    """One row per registered variant with its architecture and reference numbers."""
    rows = []
    for v in VARIANTS.values():
        c = v.config
        rows.append(
            {
                "name": v.name,
                "version": f"v{c.version}",
                "res": c.img_size,
                "window": c.window_size,
                "embed": c.embed_dim,
                "depths": ",".join(map(str, c.depths)),
                "heads": ",".join(map(str, c.num_heads)),
                "params (M)": v.params_m,
                "GMACs": v.gmacs,
                "top-1": v.top1,
                "pretrain": v.pretrain,
                "official name": v.official_name,
            }
        )
    return pd.DataFrame(rows)
