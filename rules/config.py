"""Decode the `[rules]` part of the venue config (a TOML mapping) into a `Site`.

Human strings are parsed first (durations "5m", conditions "co2 > 1200",
spans "08:00-22:00"), then msgspec checks types and unknown keys, then
`validate_site` checks meaning. Either a whole valid Site comes back or
`SiteConfigError` with every problem: never a half-loaded config.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import msgspec

from rules.errors import ParseError, RulesError
from rules.model import Site
from rules.parse import parse_condition, parse_duration, parse_span
from rules.validate import Problem, errors, validate_site

DURATION_KEYS = frozenset(
    {
        "lights_pre_start",
        "lights_post_end",
        "hvac_post_end",
        "hvac_fixed_lead",
        "no_show_release",
        "hold",
        "end_hold",
        "max_lead",
        "max_booking",
    }
)


class SiteConfigError(RulesError):
    """The rules config is invalid; `problems` lists every error (and warning)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("invalid rules config:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


def load_site(raw: Mapping[str, Any], known_points: Collection[str] | None = None) -> Site:
    """Site from a decoded TOML mapping; raises SiteConfigError (with all problems) only."""
    problems: list[Problem] = []
    prepared = _prepare(raw, "", problems)
    if problems:
        raise SiteConfigError(problems)
    try:
        site = msgspec.convert(prepared, Site)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        path = msg.rsplit("at `$", 1)[-1].rstrip("`") if "at `$" in msg else ""
        raise SiteConfigError(
            [
                Problem(
                    path=path.lstrip(".") or "rules",
                    message=msg,
                    hint="see docs/rules.md for the expected keys and types",
                )
            ]
        ) from None
    problems = validate_site(site, known_points)
    if errors(problems):
        raise SiteConfigError(problems)
    return site


def _prepare(node: Any, path: str, problems: list[Problem]) -> Any:
    """Copy of the mapping with human strings replaced by parsed values."""
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            out[key] = _convert(str(key), value, sub, path, problems)
        return out
    if isinstance(node, list | tuple):
        return [_prepare(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def _convert(key: str, value: Any, path: str, parent: str, problems: list[Problem]) -> Any:
    try:
        if key in DURATION_KEYS and isinstance(value, str):
            return parse_duration(value)
        in_rule = parent.startswith("event_rules[")
        if in_rule and key in ("trigger", "end") and isinstance(value, str):
            return parse_condition(value)
        if parent.endswith(".weekly") or key == "hours":
            if isinstance(value, list):
                return [parse_span(v) if isinstance(v, str) else v for v in value]
            if isinstance(value, str):  # a single span without brackets
                return [parse_span(value)]
    except ParseError as exc:
        problems.append(Problem(path=path, message=exc.reason, hint=exc.hint))
        return value
    return _prepare(value, path, problems)
