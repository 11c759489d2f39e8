"""Limits checked on inbound JSON before it is decoded.

A decoder recurses once per nesting level: `[[[[...` a few thousand deep raises
RecursionError inside msgspec (not a DecodeError), which a caller expecting "bad JSON"
does not catch. Checking the depth first, on the raw bytes, turns such a payload into an
ordinary refusal. Brackets inside strings do not count.
"""

from __future__ import annotations

import re

MAX_DEPTH = 32
"""Deeper than any message of the contract (a command or booking is at most 4 levels)."""

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def depth_problem(payload: bytes, limit: int = MAX_DEPTH) -> str | None:
    """Why `payload` nests too deeply to decode safely, or None. Linear in its size."""
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub(b"", payload)):
        if m.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return f"nested deeper than {limit} levels"
        else:
            depth -= 1
    return None
