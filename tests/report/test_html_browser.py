"""The html report in a real headless browser: every table is there and the page never scrolls sideways.

Marked slow (not in the default run): it needs Debian's chromium (`apt-get install chromium`) and profiles a
tiny model first. Run with `python -m pytest -m slow tests/report/test_html_browser.py`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network and a throwaway profile (no background connections, no first-run UI).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PROBE = """<script>window.addEventListener('load', () => { const d = document.documentElement;
document.title = JSON.stringify({scroll: d.scrollWidth, inner: window.innerWidth,
  ids: Array.from(document.querySelectorAll('h2[id]')).map(h => h.id),
  svgs: document.querySelectorAll('figure svg').length}); });</script>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium: apt-get install chromium")
@pytest.mark.parametrize("width", [1280, 800])
def test_profile_html_renders_whole_without_horizontal_overflow(tmp_path, width):
    out = tmp_path / "report"
    argv = ["profile", "swin_t", "--res", "64", "--iters", "2", "--attn", "reference,sdpa", "--output", str(out)]
    subprocess.run([sys.executable, "-m", "swinprof", *argv, "--quiet"], check=True, cwd=ROOT, timeout=600,
                   capture_output=True)  # fmt: skip
    page = out / "profile_swin_t_64_b1_fp32.html"
    data = json.loads(page.with_suffix(".json").read_text())
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},900", "--dump-dom",
         probe.as_uri()], capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    seen = json.loads(re.search(r"<title>(.*?)</title>", dom, re.S).group(1).replace("&quot;", '"'))
    assert seen["scroll"] <= seen["inner"], f"page is {seen['scroll']} px wide in a {seen['inner']} px window"
    assert seen["ids"][: len(data["tables"])] == [t["key"] for t in data["tables"]]  # every table, in order
    assert seen["svgs"] == 2  # per-stage MACs vs time, and the roofline
