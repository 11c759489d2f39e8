"""The cloud's commands (`cmd/{name}`), decoded into operations of `edge.ops`.

The command processor (edge.uplink.commands) checks size, JSON, schema, signature,
duplicates and expiry; what the command may do is the operations layer's to decide,
exactly as for edgectl. The actor is the cloud, identified by the command's cmd_id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from edge.ops import (
    AckAlarm,
    Actor,
    OpenGate,
    Operation,
    Operations,
    Rebirth,
    Refused,
    Reload,
    SetOutput,
    SetScene,
)
from edge.uplink import Command, CommandRefused, Handler
from edge.uplink.contract import AckAlarm as AckAlarmCmd
from edge.uplink.contract import OpenGate as OpenGateCmd
from edge.uplink.contract import Rebirth as RebirthCmd
from edge.uplink.contract import Reload as ReloadCmd
from edge.uplink.contract import Scene as SceneCmd
from edge.uplink.contract import SetPoint as SetPointCmd
from edge.uplink.signing import Verifier
from edge.venue import VenueRef


def operation_of(cmd: Command, override: timedelta) -> Operation:
    match cmd:
        case SetPointCmd():
            return SetOutput(cmd.point, cmd.value, override, f"cloud command {cmd.cmd_id}")
        case SceneCmd():
            return SetScene(cmd.zone, cmd.scene, override)
        case OpenGateCmd():
            return OpenGate(cmd.gate, cmd.hold_s, cmd.reason)
        case ReloadCmd():
            return Reload()
        case AckAlarmCmd():
            return AckAlarm(cmd.alarm_id, by=cmd.by)
        case RebirthCmd():
            return Rebirth()
    raise CommandRefused("not_supported", f"no operation for {type(cmd).__name__}")


def cloud_handlers(ops: Operations) -> dict[str, Handler]:
    async def handle(cmd: Command) -> dict[str, Any] | None:
        guard = ops.venue.get().config.guardrails
        op = operation_of(cmd, timedelta(minutes=guard.cloud_override_min))
        try:
            return await ops.execute(op, Actor("cloud", cmd.cmd_id))
        except Refused as exc:
            raise CommandRefused(exc.code, exc.message) from None

    names = ("set_point", "scene", "open_gate", "reload", "ack_alarm", "rebirth")
    return dict.fromkeys(names, handle)


class CurrentVerifier:
    """Checks command signatures with the keys of the venue in force (keys rotate by a
    reload, without restarting anything)."""

    def __init__(self, venue: VenueRef) -> None:
        self._venue = venue
        self._for: object = None
        self._verifier = Verifier({}, required=False)

    def check(self, topic: str, obj: dict[str, Any], now: datetime) -> None:
        uplink = self._venue.get().config.uplink
        if uplink is not self._for:
            self._verifier = Verifier.of(uplink.command_keys, required=bool(uplink.command_keys))
            self._for = uplink
        self._verifier.check(topic, obj, now)
