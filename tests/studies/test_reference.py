"""The side-by-side check against transformers: logits agree and every implementation is timed."""

from __future__ import annotations

import pytest

from swinprof.studies.reference import REFERENCE_NAME, compare_with_reference

pytest.importorskip("transformers")


@pytest.mark.fullsize
def test_compare_with_reference_swin_t():
    result = compare_with_reference("swin_t", warmup=1, iters=2, attn_impls=("reference", "fused"))
    assert set(result.max_abs_logit_diff) == {"reference", "fused"}
    assert max(result.max_abs_logit_diff.values()) < 1e-4
    assert set(result.timings) == {"swinprof (reference attn)", "swinprof (fused attn)", REFERENCE_NAME}
    assert all(len(t.samples_ms) == 2 for t in result.timings.values())
    assert result.speedup(REFERENCE_NAME) == 1.0
