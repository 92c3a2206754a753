"""The console-script entry: everything, imports included, runs under the same exit-code promise.

`swinprof.cli.main` imports torch, pandas and rich before its `main()` can catch anything, so Ctrl-C during those
seconds would print a long KeyboardInterrupt traceback. This module imports nothing heavy itself: it imports
`main` inside a guard, so an interrupt at any moment is one line and exit code 130.
"""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def run() -> int:
    """Import and run `swinprof.cli.main.main`; Ctrl-C while importing is one line, exit 130."""
    try:
        from swinprof.cli.main import main

        return main()
    except KeyboardInterrupt:  # main() handles its own; this is start-up (or the last instants of shutdown)
        print("swinprof: interrupted; no partial report was written", file=sys.stderr)
        return EXIT_INTERRUPTED


def console() -> None:
    """`[project.scripts]` target: exit with `run()`'s code."""
    sys.exit(run())
