"""The C library through ctypes, loaded once and only when something asks for it
(importing ctypes costs start-up time and memory the daemon does not always need)."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def libc() -> Any | None:
    """glibc's handle (errno kept for the callers), None where there is none to load."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        pass
    found = ctypes.util.find_library("c")  # runs `ldconfig -p`: only off glibc's usual name
    try:
        return ctypes.CDLL(found, use_errno=True) if found else None
    except OSError:
        return None
