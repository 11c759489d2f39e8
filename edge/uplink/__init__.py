"""MQTT uplink: durable outbox, session, commands and the published contract.

The daemon needs `Uplink` (session + outbox + commands), `UplinkConfig` and the body types
of `edge.uplink.contract` to enqueue state/events/alarms/energy.
"""

from edge.uplink.commands import CommandProcessor, Guardrail, Handler
from edge.uplink.config import UplinkConfig, decode_uplink
from edge.uplink.contract import (
    AckAlarm,
    AlarmBody,
    BirthBody,
    BirthDevice,
    BirthPoint,
    BirthZone,
    CmdResBody,
    Command,
    EnergyBody,
    EventBody,
    OpenGate,
    PointValue,
    Rebirth,
    Reload,
    Scene,
    SetPoint,
    StateBody,
    Topics,
)
from edge.uplink.errors import CommandRefused, OutboxClosed, UplinkError
from edge.uplink.outbox import Enqueued, Outbox
from edge.uplink.session import BirthProvider, Uplink, UplinkStatus

__all__ = [
    "AckAlarm",
    "AlarmBody",
    "BirthBody",
    "BirthDevice",
    "BirthPoint",
    "BirthProvider",
    "BirthZone",
    "CmdResBody",
    "Command",
    "CommandProcessor",
    "CommandRefused",
    "EnergyBody",
    "Enqueued",
    "EventBody",
    "Guardrail",
    "Handler",
    "OpenGate",
    "Outbox",
    "OutboxClosed",
    "PointValue",
    "Rebirth",
    "Reload",
    "Scene",
    "SetPoint",
    "StateBody",
    "Topics",
    "Uplink",
    "UplinkConfig",
    "UplinkError",
    "UplinkStatus",
    "decode_uplink",
]
