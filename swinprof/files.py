"""Atomic file output: a report is either fully written or not there at all."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

from swinprof.errors import DataPathError


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks (a checkpoint may be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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


def _nearest_existing(path: Path) -> Path:
    """`path` or its closest ancestor that exists (the folder a new path would be created in)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_creatable(path: Path, folder: Path) -> None:
    """`folder` (where `path` goes) exists or can be made: its closest existing ancestor is a writable folder."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise DataPathError(f"cannot write {str(path)!r}: {str(base)!r} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise DataPathError(f"cannot write {str(path)!r}: {str(base)!r} is not writable")


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check, without creating anything, that a report folder can be published at `path` (see `publish`)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise DataPathError(f"output {str(path)!r} is a file, not a folder: choose a folder name")
        if not os.access(path, os.W_OK | os.X_OK):
            raise DataPathError(f"output folder {str(path)!r} is not writable: choose another")
        return path  # an existing folder is staged into from inside (see writer.publish): its parent may be read-only
    _check_creatable(path, path.parent if str(path.parent) else Path("."))
    return path


def check_new_output_dir(path: str | os.PathLike, why: str) -> Path:
    """Like `check_output_dir`, and `path` must not hold anything yet (new, or an empty folder): for outputs that
    are one whole, such as a data set, where files left from an earlier run would mix in. `why` ends the error."""
    path = check_output_dir(path)
    entries = sorted(os.listdir(path)) if path.is_dir() else []
    if entries:
        shown = ", ".join(entries[:4]) + (f" and {len(entries) - 4} more" if len(entries) > 4 else "")
        raise DataPathError(f"output folder {str(path)!r} is not empty ({shown}): give a new or empty folder; {why}")
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Check, without creating anything, that a single file can be written (atomically) at `path`."""
    text = os.fspath(path)
    path = Path(text)
    if text.endswith(os.sep) or path.is_dir():
        raise DataPathError(f"output {text!r} is a folder: give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise DataPathError(f"cannot write {text!r}: {str(parent)!r} is a file, not a folder")
    _check_creatable(path, parent)
    return path


def make_parents(path: Path) -> list[Path]:
    """Create the missing folders of `path` (itself included); returns those created, outermost first."""
    created = []
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            try:
                folder.mkdir()
            except FileExistsError:  # made by someone else meanwhile
                continue
            except OSError as exc:
                remove_folders(created)
                raise DataPathError(f"cannot create folder {str(folder)!r}: {exc.strerror or exc}") from exc
            created.append(folder)
    return created


def remove_folders(created: list[Path]) -> None:
    """Undo `make_parents`: remove the folders it made (innermost first) where they are still empty."""
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to a temp file beside `path`, fsync, then rename over it (atomic on POSIX).

    Missing parent folders are created, and removed again if the write fails; a failure (full disk, no
    permission) is one DataPathError and leaves no temp file behind.
    """
    path = Path(path)
    created = make_parents(path.parent if str(path.parent) else Path("."))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                   suffix=".tmp")  # fmt: skip
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp makes 0600; reports should be readable like any file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:  # KeyboardInterrupt included: never leave the temp file behind
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        remove_folders(created)
        if isinstance(exc, OSError) and not isinstance(exc, DataPathError):
            raise DataPathError(f"could not write {str(path)!r}: {exc.strerror or exc}") from exc
        raise
    return path


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Defer SIGINT/SIGTERM for the few renames that publish a report (delivered right after)."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # not the main thread or no pthreads: nothing to hold
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def atomic_write_many(files: dict[str | os.PathLike, bytes]) -> list[Path]:
    """Write several files (anywhere) as one unit: every file is staged beside its target first, then all are
    renamed into place with SIGINT/SIGTERM held, so a failure or an interrupt leaves none of them changed."""
    staged: list[tuple[str, Path]] = []
    created: list[Path] = []
    try:
        for target, data in files.items():
            target = Path(target)
            created += make_parents(target.parent if str(target.parent) else Path("."))
            temp = target.with_name(f".{target.name}.partial")
            staged.append((str(temp), target))
            atomic_write_bytes(temp, data)
        with signals_held():
            for temp, target in staged:
                os.replace(temp, target)
        return [target for _, target in staged]
    except BaseException as exc:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        remove_folders(created)
        if isinstance(exc, OSError) and not isinstance(exc, DataPathError):
            raise DataPathError(f"could not write {', '.join(map(str, files))}: {exc.strerror or exc}") from exc
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
