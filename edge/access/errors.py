"""Access-control errors: each carries what went wrong as attributes."""

from __future__ import annotations


class AccessError(Exception):
    """Base of the access package's own exceptions."""


class MalformedPass(AccessError):
    """A pass token that cannot be decoded; `reason` is a short stable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"malformed pass ({reason}){': ' + detail if detail else ''}")


class PassFieldError(AccessError, ValueError):
    """`issue_pass` was given a field that the pass format cannot carry."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"pass field {field!r}: {problem}")


class KeyConfigError(AccessError, ValueError):
    """An issuer key in the config is unusable; names the key id and the fix."""

    def __init__(self, kid: str, problem: str) -> None:
        self.kid = kid
        self.problem = problem
        super().__init__(f"access key {kid!r}: {problem}")


class BadRevocation(AccessError, ValueError):
    """A revocation entry that cannot match anything (e.g. a plate with no letters)."""

    def __init__(self, kind: str, value: str) -> None:
        self.kind = kind
        self.value = value
        super().__init__(f"revocation of {kind} {value!r}: not a valid {kind} identifier")
