"""Keep torch inductor's compiled-code cache usable: find and remove the binaries an interrupted build left cut.

Inductor compiles each C++ kernel (and its vector-ISA probe) straight to its cache path (`<cache>/<2
chars>/<key>...so`) and afterwards trusts any file of that name. A build killed mid-link (Ctrl-C reaches the
compiler too) leaves a 0-byte or cut `.so`; from then on every identical compile fails with `file too short`,
or, when the cut file is the vector-ISA probe, inductor silently decides the CPU has no AVX2/AVX-512 and
generates scalar code (reproduced: a 0-byte probe made every kernel of an int8 run unvectorized, with no error).

`repair_inductor_cache` removes such files: a `.so` or `.o` that is empty, is not ELF, or ends before its own
section or program header tables. Each is removed only while holding inductor's own per-key build lock, so a
build in progress in another process is never touched; inductor rebuilds what was removed on its next compile.
`CompiledModel` runs it before the first compile of a process and the CLI runs it after an interrupt; both say
what they removed.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

BINARY_SUFFIXES = (".so", ".o")
_ELF_MAGIC = b"\x7fELF"
# e_phoff, e_shoff, then e_phentsize, e_phnum, e_shentsize, e_shnum; by ELF class (1: 32-bit, 2: 64-bit)
_LAYOUT = {1: (52, 0x1C, "I", 0x2A), 2: (64, 0x20, "Q", 0x36)}


@dataclass(frozen=True)
class CacheRepair:
    """What a repair removed: `removed` maps each file (relative to `root`) to why it was unusable."""

    root: Path
    removed: dict[str, str]

    def __bool__(self) -> bool:
        return bool(self.removed)

    def message(self) -> str:
        """One line for a report or the terminal (empty when nothing was removed)."""
        if not self.removed:
            return ""
        files = "; ".join(f"{name} ({why})" for name, why in sorted(self.removed.items()))
        n = len(self.removed)
        return (f"removed {n} unusable compiled file{'s' if n > 1 else ''} from torch inductor's cache {self.root} "
                f"(left by an interrupted build; inductor rebuilds {'them' if n > 1 else 'it'}): {files}")  # fmt: skip


def unusable_binary(path: str | os.PathLike) -> str | None:
    """Why the ELF file at `path` cannot be loaded whole (empty, not ELF, cut short), or None when it is whole."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return None  # gone meanwhile, or unreadable: nothing this repair can judge
    if size == 0:
        return "0 bytes"
    if head[:4] != _ELF_MAGIC or head[4] not in _LAYOUT or head[5] not in (1, 2):
        return "not an ELF file"
    header, at, word, counts_at = _LAYOUT[head[4]]
    if len(head) < header:
        return f"cut at {size} bytes, inside the ELF header"
    order = "<" if head[5] == 1 else ">"
    phoff, shoff = struct.unpack_from(f"{order}{word}{word}", head, at)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(f"{order}HHHH", head, counts_at)
    end = max(header, phoff + phentsize * phnum, shoff + shentsize * shnum)
    return f"cut at {size} of at least {end} bytes" if size < end else None


def inductor_cache_dir() -> Path:
    """The folder inductor compiles into (`TORCHINDUCTOR_CACHE_DIR`, else its per-user default)."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return Path(cache_dir())


def _binaries(root: Path, since: float | None):
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "locks"]
        for name in names:
            if name.endswith(BINARY_SUFFIXES):
                path = Path(folder, name)
                if since is None or _mtime(path) >= since:
                    yield path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("-inf")


def _remove_locked(root: Path, path: Path) -> str | None:
    """Remove `path` if it is still unusable once inductor's build lock for its key is ours; None when it was
    whole, or another process holds the lock (a build in progress)."""
    from filelock import FileLock, Timeout

    key = path.name.split(".", 1)[0]
    lock = FileLock(str(root / "locks" / f"{key}.lock"))
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        return None
    try:
        why = unusable_binary(path)
        if why is not None:
            path.unlink(missing_ok=True)
        return why
    finally:
        lock.release()


def repair_inductor_cache(root: str | os.PathLike | None = None, since: float | None = None) -> CacheRepair:
    """Remove the unusable compiled files under `root` (default: inductor's cache folder), only those modified at
    or after `since` (a `time.time()`) when given. Returns what was removed."""
    root = Path(root) if root is not None else inductor_cache_dir()
    removed: dict[str, str] = {}
    if root.is_dir():
        for path in _binaries(root, since):
            if unusable_binary(path) is not None:
                why = _remove_locked(root, path)
                if why is not None:
                    removed[str(path.relative_to(root))] = why
    return CacheRepair(root, removed)


_CHECKED: dict[Path, CacheRepair] = {}


def repair_once() -> CacheRepair | None:
    """`repair_inductor_cache()` the first time a process asks for the current cache folder (the repair for the
    caller to report), None on later calls: one scan per process and folder, before its first compile."""
    root = inductor_cache_dir()
    if root in _CHECKED:
        return None
    _CHECKED[root] = repair = repair_inductor_cache(root)
    return repair


def repair_after_interrupt(started: float) -> CacheRepair | None:
    """After Ctrl-C: remove what builds since `started` left cut, if this process loaded inductor (no import
    otherwise: an interrupted command that never compiled has nothing to repair)."""
    import sys

    if "torch._inductor.codecache" not in sys.modules:
        return None
    return repair_inductor_cache(since=started - 1.0)


def process_repair() -> CacheRepair:
    """This process's repair of the current cache folder, run now if no compile has asked for it yet (`repair_once`):
    for a caller that reports the repair whichever of its steps compiled first."""
    repair_once()
    return _CHECKED[inductor_cache_dir()]
