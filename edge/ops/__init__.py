"""The one operations layer: what a technician (edgectl) or the cloud may ask of edged.

Typed commands, one validation, one journal line per operation with a structured
actor, one refusal type. `edge.control` and the uplink's command handlers only decode
their requests into these commands.
"""

from edge.ops.model import (
    AckAlarm,
    Actor,
    OpenGate,
    Operation,
    Rebirth,
    ReleaseOutput,
    Reload,
    ReloadOutcome,
    ResetCounters,
    ResetEmergency,
    SetOutput,
    SetScene,
)
from edge.ops.operations import DaemonControl, Operations
from edge.ops.refusal import RefusalCode, Refused

__all__ = [
    "AckAlarm",
    "Actor",
    "DaemonControl",
    "OpenGate",
    "Operation",
    "Operations",
    "Rebirth",
    "RefusalCode",
    "Refused",
    "ReleaseOutput",
    "Reload",
    "ReloadOutcome",
    "ResetCounters",
    "ResetEmergency",
    "SetOutput",
    "SetScene",
]
