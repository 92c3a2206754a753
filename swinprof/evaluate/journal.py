"""The resume journal of a long evaluation: per-image results committed in chunks while the run goes.

With `-o DIR`, rank 0 writes `DIR/.swinprof-resume/`: `plan.json` (what the run is: its arguments, weights and
data, as a fingerprint) and one `chunk-NNNNNN.pt` per commit, each holding finished batches by batch number
(`{number: {"top": {model: (n, k) int32}, "logits": {model: (m, classes) float32}}}`). Every file is written
atomically (temp file, fsync, rename), so a run killed at any instant, SIGKILL included, leaves only whole files;
`--resume` reads them back (`torch.load(weights_only=True)`), checks that the plan is the same, naming the first
difference, and the run evaluates only the batches no chunk holds. The folder is removed once the report is
published. Chunks carry batch numbers, not rank numbers, so a run may resume with another world size.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from swinprof.errors import DataPathError, UsageError
from swinprof.files import atomic_write_bytes, atomic_write_text
from swinprof.ranks import first_difference

FOLDER = ".swinprof-resume"
PLAN = "plan.json"


def journal_folder(output: str | Path) -> Path:
    return Path(output) / FOLDER


class Journal:
    """Rank 0's record of finished batches (see the module docstring). Open it with `Journal.open`."""

    def __init__(self, folder: Path, plan: dict[str, Any], resumed: bool) -> None:
        self.folder, self.plan, self.resumed = folder, plan, resumed
        chunks = folder.glob("chunk-*.pt") if folder.is_dir() else ()
        self._next = 1 + max((int(p.stem.split("-")[1]) for p in chunks), default=0)

    @classmethod
    def open(cls, output: str | Path, plan: dict[str, Any], resume: bool) -> Journal:
        """The journal of the run writing into `output`: a new one, or with `resume` the one a killed run left
        (its plan must equal `plan`). A journal found without `resume` is refused rather than overwritten."""
        folder = journal_folder(output)
        plan = json.loads(json.dumps(plan, sort_keys=True, default=str))  # as it reads back from plan.json
        if folder.exists() and not resume:
            raise UsageError(f"{str(output)!r} holds an unfinished run ({FOLDER}): pass --resume to continue it, or "
                             "delete that folder to start again")  # fmt: skip
        if folder.exists():
            before = _read_plan(folder / PLAN)
            difference = first_difference(before, plan)
            if difference:
                key, then, now = difference
                raise UsageError(f"--resume with other arguments than the interrupted run: {key} was {then}, "
                                 f"now {now}; run it with the same ones, or delete {str(folder)!r} to start "
                                 "again")  # fmt: skip
            return cls(folder, plan, resumed=True)
        return cls(folder, plan, resumed=False)  # written with the first chunk: no folder for a run cut before it

    def done(self) -> dict[int, dict]:
        """Every committed batch: number -> `{"top": {...}, "logits": {...}}`."""
        import torch

        out: dict[int, dict] = {}
        for path in sorted(self.folder.glob("chunk-*.pt")) if self.folder.is_dir() else ():
            try:
                chunk = torch.load(path, weights_only=True)
            except Exception as exc:  # a damaged file: torch raises several kinds (pickle, zip, runtime)
                raise DataPathError(f"resume chunk {str(path)!r} is unreadable ({type(exc).__name__}): delete "
                                    f"{str(self.folder)!r} and run again without --resume") from exc  # fmt: skip
            twice = out.keys() & chunk.keys()
            if twice:
                raise DataPathError(f"resume chunk {str(path)!r} repeats batches {sorted(twice)[:5]}: delete "
                                    f"{str(self.folder)!r} and run again without --resume")  # fmt: skip
            out.update(chunk)
        return out

    def commit(self, batches: dict[int, dict]) -> None:
        """Write `batches` (number -> results) as the next chunk, atomically."""
        import io

        import torch

        if not batches:
            return
        if not (self.folder / PLAN).exists():
            atomic_write_text(self.folder / PLAN, json.dumps(self.plan, indent=1, sort_keys=True))
        buffer = io.BytesIO()
        torch.save(batches, buffer)
        atomic_write_bytes(self.folder / f"chunk-{self._next:06d}.pt", buffer.getvalue())
        self._next += 1

    def close(self) -> None:
        """The run is published: the journal has done its job."""
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_plan(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataPathError(f"resume plan {str(path)!r} is unreadable ({exc}): delete {str(path.parent)!r} and run "
                            "again without --resume") from exc  # fmt: skip
