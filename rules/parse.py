"""Parsers for the small strings of the venue config: durations, conditions, spans.

Each raises `ParseError` (text, reason, hint) on bad input and nothing else.
"""

from __future__ import annotations

import math
import re
from datetime import time, timedelta

from rules.errors import ParseError
from rules.model import Comparison, Condition, Op, Span

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d)")
_ISO = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")
_MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """ "90s", "5m", "5min", "1h30m", "2d", "0" or ISO 8601 "PT5M" -> timedelta (>= 0)."""
    hint = 'write e.g. "90s", "5m", "1h30m", "2d" or "PT5M"'
    if not isinstance(text, str):
        raise ParseError(repr(text), "a duration must be a string", hint)
    s = text.strip()
    if s == "0":
        return timedelta(0)
    iso = _ISO.fullmatch(s)
    if iso and s not in ("P", "PT") and not s.endswith("T"):
        d, h, m, sec = iso.groups()
        total = int(d or 0) * 86400 + int(h or 0) * 3600 + int(m or 0) * 60 + float(sec or 0)
        return _bounded(text, total, hint)
    pos, total = 0, 0.0
    parts = 0
    for m in _DURATION_PART.finditer(s):
        if s[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos, parts = m.end(), parts + 1
    if parts == 0 or s[pos:].strip():
        raise ParseError(text, "not a duration", hint)
    return _bounded(text, total, hint)


def _bounded(text: str, seconds: float, hint: str) -> timedelta:
    if not math.isfinite(seconds) or seconds > _MAX_DURATION.total_seconds():
        raise ParseError(text, "duration longer than 10 years", hint)
    return timedelta(seconds=seconds)


_COMPARISON = re.compile(
    r"\s*([A-Za-z_][\w\-]*(?:\.[\w\-]+)+)\s*(>=|<=|==|!=|>|<)\s*"
    r"(true|false|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*"
)
_OPS: tuple[Op, ...] = (">", ">=", "<", "<=", "==", "!=")


def parse_condition(text: str) -> Condition:
    """ "hall_iaq.co2 > 1200 and hall_iaq.temp < 30" -> Condition (all must hold)."""
    hint = 'write "device.point OP number" joined by "and"; OP is one of > >= < <= == !='
    if not isinstance(text, str) or not text.strip():
        raise ParseError(repr(text), "empty condition", hint)
    comps: list[Comparison] = []
    for part in re.split(r"\s+and\s+", text.strip()):
        m = _COMPARISON.fullmatch(part)
        if m is None:
            raise ParseError(text, f"cannot read comparison {part.strip()!r}", hint)
        point, op, raw = m.groups()
        value = 1.0 if raw == "true" else 0.0 if raw == "false" else float(raw)
        if not math.isfinite(value):
            raise ParseError(text, f"{raw} is not a finite number", hint)
        comps.append(Comparison(point=point, op=next(o for o in _OPS if o == op), value=value))
    return Condition(all=tuple(comps))


_SPAN = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")


def parse_span(text: str) -> Span:
    """ "08:00-22:00" (local time; "22:00-02:00" runs past midnight; "24:00" = midnight)."""
    hint = 'write "HH:MM-HH:MM", e.g. "08:00-22:00"; "00:00-24:00" is all day'
    if not isinstance(text, str):
        raise ParseError(repr(text), "a span must be a string", hint)
    m = _SPAN.fullmatch(text)
    if m is None:
        raise ParseError(text, "not an opening-hours span", hint)
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ParseError(text, "hour or minute out of range", hint)
    start, end = time(h1, m1), time(0, 0) if h2 == 24 else time(h2, m2)
    if start == end and not (h1 == 0 and m1 == 0 and h2 == 24):
        raise ParseError(text, "span is empty (start == end)", hint)
    return Span(start=start, end=end)
