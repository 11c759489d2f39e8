"""The one refusal type of the operations layer: a code from a closed set, a message
that names the problem, and a hint that names the fix."""

from __future__ import annotations

from typing import Literal, get_args

RefusalCode = Literal[
    "unknown_point",
    "not_writable",
    "out_of_range",
    "invalid",
    "unknown_zone",
    "unknown_scene",
    "unknown_gate",
    "unknown_alarm",
    "unknown_output",
    "panel_in_alarm",
    "refused",
    "failed",
    "unavailable",
    "bad_config",
]
REFUSAL_CODES: frozenset[str] = frozenset(get_args(RefusalCode))


class Refused(Exception):
    def __init__(self, code: RefusalCode, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code: RefusalCode = code
        self.message = message
        self.hint = hint
