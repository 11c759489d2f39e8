"""glibc's malloc set by the daemon: one arena for every thread, free pages given back."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

glibc_only = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")

PROBE = """
import sys, threading
from edge import memory

def thread_arenas():
    # A thread arena is a 64 MiB reservation: a few pages in use, the rest mapped ---p.
    found = 0
    for line in open("/proc/self/maps"):
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        found += parts[1] == "---p" and len(parts) < 6 and hi - lo > 1 << 20
    return found

if sys.argv[1] == "one":
    assert memory.one_arena()
before = thread_arenas()
kept = []
worker = threading.Thread(target=lambda: kept.extend(bytes(2000) for _ in range(2000)))
worker.start()
worker.join()
print(thread_arenas() - before)
"""


def _new_arenas(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return int(out.stdout)


@glibc_only
def test_threads_allocate_in_the_one_arena() -> None:
    """A thread that allocates gets its own arena by default, and none after `one_arena`."""
    assert _new_arenas("default") >= 1  # the probe sees an arena when there is one
    assert _new_arenas("one") == 0


TRIM_PROBE = """
from edge import memory

def rss_kib():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])

# 40 MB on the heap (below mmap's threshold), written so that it is resident.
blocks = [bytearray(b"x") * 100_000 for _ in range(400)]
# Every other one freed: 20 MB in holes between kept blocks, which free() cannot give back.
# (A single block kept above them all could land in an older hole below, leaving the freed
# 40 MB at the heap's top, where free() itself returns it.)
del blocks[::2]
before = rss_kib()
released = memory.trim()
print(released, before - rss_kib())
"""


@glibc_only
def test_trim_gives_freed_heap_pages_back() -> None:
    """Freed memory in the middle of the heap stays resident until `trim`."""
    out = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    released, dropped_kib = out.stdout.split()
    assert released == "True"
    assert int(dropped_kib) > 8_000  # about 17 MB here; nothing without the trim
