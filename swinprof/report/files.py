"""Atomic file output: a report is either fully written or not there at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from swinprof.errors import DataPathError


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create `path` if needed and check we can write there; a clear error otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataPathError(f"cannot create output directory {str(path)!r}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise DataPathError(f"output directory {str(path)!r} is not writable: choose another with --output")
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to a temp file beside `path`, fsync, then rename over it (atomic on POSIX)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600; reports should be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt included: never leave the temp file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
