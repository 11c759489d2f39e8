"""Errors of the rules package (few: evaluation itself reports problems, it does not raise)."""

from __future__ import annotations


class RulesError(Exception):
    """Base of every error raised by rules/."""


class NaiveTimeError(RulesError, ValueError):
    """A datetime without a timezone was given where an instant is required."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} must be timezone-aware (e.g. datetime.now(UTC)); got a naive one")
        self.what = what


class ParseError(RulesError, ValueError):
    """A config string (duration, condition, span, value) could not be parsed."""

    def __init__(self, text: str, reason: str, hint: str) -> None:
        super().__init__(f"cannot parse {text!r}: {reason} ({hint})")
        self.text = text
        self.reason = reason
        self.hint = hint
