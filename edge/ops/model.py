"""Who asks (`Actor`) and what they may ask (the operations), as frozen types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from rules.model import Value


@dataclass(frozen=True, slots=True)
class Actor:
    """`technician` (id: the user name from the socket's peer credentials), `cloud` (id:
    the command's cmd_id) or `system` (id: what inside edged acted)."""

    kind: Literal["technician", "cloud", "system"]
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class SetOutput:
    """A manual override of an output the gateway drives, always with an expiry."""

    point: str
    value: Value
    duration: timedelta
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ReleaseOutput:
    point: str


@dataclass(frozen=True, slots=True)
class SetScene:
    """`on`/`off` overrides every light of a zone; `release` ends them."""

    zone: str
    scene: str
    duration: timedelta


@dataclass(frozen=True, slots=True)
class OpenGate:
    gate: str
    hold_s: float | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AckAlarm:
    alarm_id: str
    by: str = ""
    """Who acknowledged, when the actor speaks for someone (the cloud's operator)."""


@dataclass(frozen=True, slots=True)
class Reload:
    pass


@dataclass(frozen=True, slots=True)
class Rebirth:
    pass


@dataclass(frozen=True, slots=True)
class ResetEmergency:
    pass


@dataclass(frozen=True, slots=True)
class ResetCounters:
    output: str


Operation = (
    SetOutput
    | ReleaseOutput
    | SetScene
    | OpenGate
    | AckAlarm
    | Reload
    | Rebirth
    | ResetEmergency
    | ResetCounters
)


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    ok: bool
    config_version: int
    problems: list[str] = field(default_factory=list)
