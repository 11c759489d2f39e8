"""The `edged` command: the daemon's entry point, kept lean.

`structlog` imports `structlog.dev`, which imports `rich` when it can (edgectl's table
renderer): a few hundred ms of start-up and about 3 MiB the daemon never uses, since it
logs JSON or plain console lines. Hiding `rich` here, before anything imports structlog,
keeps it out of the daemon's start-up only; edgectl and tests are unaffected.
`cryptography` is imported at the first signature check (`edge.access.keys`), and the
simulator never: tests/daemon/test_imports.py holds both.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


def load() -> Callable[[list[str] | None], int]:
    """Import the daemon with `rich` hidden; returns its `main`."""
    hide = "rich" not in sys.modules
    if hide:
        sys.modules["rich"] = None  # type: ignore[assignment]
    try:
        from edge.daemon import main as daemon_main
    finally:
        if hide:  # importable again for anything later in this process (man pages)
            del sys.modules["rich"]
    return daemon_main


def main(argv: list[str] | None = None) -> int:
    return load()(argv)


if __name__ == "__main__":
    raise SystemExit(main())
