"""Uplink errors: few, named for what went wrong, carrying data as attributes."""

from __future__ import annotations


class UplinkError(Exception):
    """Base class for uplink errors."""


class OutboxClosed(UplinkError):
    """A message was offered to an outbox that is not running."""


class CommandRefused(UplinkError):
    """A command was refused; `code` is the machine-readable reason sent on `cmd_res`.

    Guardrail validators and command handlers raise it to refuse with a clear reason.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
