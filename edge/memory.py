"""glibc's malloc, set for a small gateway that runs one process for years.

glibc gives every thread that allocates its own arena, and pages a thread touched stay
resident in it. edged's threads (the SQLite worker, the start-up's `asyncio.to_thread`)
allocate little, so one arena shared with the event loop costs no contention worth
measuring and keeps their pages out of the RSS (2.3 MiB at 100 devices, bench/bridge.py).
After start-up, `malloc_trim` hands back what loading the venue, the profiles and the birth
left free. Both do nothing where libc is not glibc (musl has neither call).
"""

from __future__ import annotations

from typing import Any

import structlog

from edge.libc import libc

log = structlog.get_logger("edge.memory")

M_ARENA_MAX = -8  # glibc's malloc.h


def _glibc() -> Any | None:
    found = libc()
    return found if hasattr(found, "mallopt") and hasattr(found, "malloc_trim") else None


def one_arena() -> bool:
    """One malloc arena for every thread; call before starting any. True if set."""
    c = _glibc()
    ok = c is not None and c.mallopt(M_ARENA_MAX, 1) == 1
    if not ok:
        log.debug("malloc_arena_max_not_set")
    return ok


def trim() -> bool:
    """Give free heap pages back to the kernel. True if some were released."""
    c = _glibc()
    return c is not None and c.malloc_trim(0) == 1
