"""MQTT uplink: durable outbox, session, commands and the published contract.

The daemon composes the session (`Uplink`) with the outbox store, the command processor
and an inbound router; producers enqueue the body types of `edge.uplink.contract`.
"""

from edge.uplink.commands import CommandProcessor, Guardrail, Handler
from edge.uplink.config import OutboxConfig, outbox_config
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
from edge.uplink.inbound import InboundRouter
from edge.uplink.outbox import Enqueued, Outbox
from edge.uplink.session import BirthProvider, Inbound, Uplink

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
    "Inbound",
    "InboundRouter",
    "OpenGate",
    "Outbox",
    "OutboxClosed",
    "OutboxConfig",
    "PointValue",
    "Rebirth",
    "Reload",
    "Scene",
    "SetPoint",
    "StateBody",
    "Topics",
    "Uplink",
    "UplinkError",
    "outbox_config",
]
