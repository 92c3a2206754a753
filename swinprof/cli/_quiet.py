"""Third-party noise: warnings and log records from torch, torchao, onnxruntime, ... captured while a command
runs, suppressed, and summarised once (with counts) only under `-v`. Our own warnings are printed by the
commands themselves and are never captured here."""

from __future__ import annotations

import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class _Collect(logging.Filter):
    """Keeps WARNING+ records from other packages' loggers (and drops them from their handlers)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("swinprof"):
            return True
        if record.levelno >= logging.WARNING:
            self.seen[f"{record.name}: {record.getMessage().splitlines()[0]}"] += 1
        return False


@contextmanager
def captured_third_party() -> Iterator[Counter[str]]:
    """Within the block, Python warnings and other packages' log records are collected, not printed.

    Yields a Counter of `source: first line` -> occurrences, filled as the block runs. Handlers that exist when the
    block starts are filtered, and so is every handler a package installs while it runs: the commands import torch,
    onnxruntime or OpenVINO only once they run (the parser imports none of them), and those imports add handlers.
    """
    collect = _Collect()
    root = logging.getLogger()
    handler = logging.NullHandler()
    handler.addFilter(collect)
    root.addHandler(handler)  # records that would fall to logging.lastResort land here instead
    patched = []

    def cover(h: logging.Handler) -> None:
        if h is not handler and collect not in h.filters:
            h.addFilter(collect)
            patched.append(h)

    for logger in [root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]:
        for h in logger.handlers:
            cover(h)
    add_handler = logging.Logger.addHandler

    def add_covered(logger: logging.Logger, h: logging.Handler) -> None:
        cover(h)
        add_handler(logger, h)

    logging.Logger.addHandler = add_covered  # restored below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield collect.seen
        finally:
            for w in caught:
                collect.seen[f"{w.category.__name__}: {str(w.message).splitlines()[0]}"] += 1
            logging.Logger.addHandler = add_handler
            root.removeHandler(handler)
            for h in patched:
                h.removeFilter(collect)


def summary(seen: Counter[str]) -> list[str]:
    """One line per distinct message, most frequent first."""
    return [f"{text}" + (f" (x{n})" if n > 1 else "") for text, n in seen.most_common()]
