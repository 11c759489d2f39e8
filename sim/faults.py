"""The catalogue of faults the simulator can inject, and the validation of a request.

A request is (kind, target, params). Validation is pure: it needs only the list of
targets per profile/bus kind, and turns CLI strings (`on=off`, `seconds=2.5`) into
typed values. Anything wrong raises FaultError naming the bad part and the valid
choices. Application lives in `sim.venue` (it needs the running servers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import FaultError

MODBUS_BUS_KINDS = ("modbus_tcp", "modbus_rtu", "modbus_rtu_tcp")


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise FaultError(name, f"{raw!r} is not on/off", ["on", "off"])


def _number(low: float, high: float, integer: bool = False) -> Callable[[str, Any], float]:
    def parse(name: str, raw: Any) -> float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = int(raw) if integer else float(raw)
        except (TypeError, ValueError):
            kind = "an integer" if integer else "a number"
            raise FaultError(name, f"{raw!r} is not {kind} ({low}..{high})") from None
        if not low <= value <= high:
            raise FaultError(name, f"{value} is outside {low}..{high}")
        return value

    return parse


@dataclass(frozen=True)
class Param:
    parse: Callable[[str, Any], Any]
    default: Any = None
    """None: required."""
    doc: str = ""


ON = Param(_bool, True, "on (default) or off")
LOOP = Param(_number(1, 256, integer=True), None, "loop number (from 1)")
FIRE_DEVICE = Param(_number(1, 4096, integer=True), None, "device address on the loop (from 1)")


@dataclass(frozen=True)
class FaultKind:
    name: str
    doc: str
    target: str
    """What the target names: `device:<profile>|...`, `device`, `bus`, `camera`, or `none`."""
    params: Mapping[str, Param] = field(default_factory=dict)

    def target_profiles(self) -> tuple[str, ...]:
        if self.target.startswith("device:"):
            return tuple(self.target.split(":", 1)[1].split("|"))
        return ()


KINDS: dict[str, FaultKind] = {
    k.name: k
    for k in [
        FaultKind(
            "offline", "the unit stops answering (the master times out)", "device", {"on": ON}
        ),
        FaultKind(
            "slow",
            "every reply of the unit is delayed",
            "device",
            {"seconds": Param(_number(0, 60), None, "extra delay, 0 clears")},
        ),
        FaultKind(
            "garbage",
            "replies are corrupted (bad CRC on RTU, truncated on TCP)",
            "device",
            {"on": ON},
        ),
        FaultKind(
            "exception",
            "every request is answered with a Modbus exception",
            "device",
            {"code": Param(_number(0, 255, integer=True), None, "exception code, 0 clears")},
        ),
        FaultKind(
            "link_drop",
            "the whole bus goes away (listener closed / pty unplugged)",
            "bus",
            {"on": ON},
        ),
        FaultKind(
            "lamp_failure",
            "a channel stays dark when commanded on (feedback off, 0 A)",
            "device:lighting_8ch",
            {"channel": Param(_number(1, 64, integer=True), None, "channel number"), "on": ON},
        ),
        FaultKind(
            "stuck_on",
            "a channel stays lit whatever is commanded (welded contactor)",
            "device:lighting_8ch",
            {"channel": Param(_number(1, 64, integer=True), None, "channel number"), "on": ON},
        ),
        FaultKind(
            "door_forced",
            "the door is opened without an unlock pulse",
            "device:gate_controller",
            {"on": ON},
        ),
        FaultKind(
            "door_held",
            "the door stays open after the unlock pulse",
            "device:gate_controller",
            {"on": ON},
        ),
        FaultKind(
            "fire_alarm",
            "the fire panel reports an alarm",
            "device:fire_panel|fire_gateway",
            {"on": ON},
        ),
        FaultKind(
            "fire_fault",
            "the fire panel reports a fault",
            "device:fire_panel|fire_gateway",
            {"on": ON},
        ),
        FaultKind(
            "fire_silenced",
            "the fire panel's sounders are silenced",
            "device:fire_panel|fire_gateway",
            {"on": ON},
        ),
        FaultKind(
            "fire_device_alarm",
            "one field device of a fire panel gateway reports fire",
            "device:fire_gateway",
            {"loop": LOOP, "device": FIRE_DEVICE, "on": ON},
        ),
        FaultKind(
            "fire_device_fault",
            "one field device of a fire panel gateway reports a fault",
            "device:fire_gateway",
            {"loop": LOOP, "device": FIRE_DEVICE, "on": ON},
        ),
        FaultKind(
            "fire_device_disabled",
            "one field device of a fire panel gateway is disabled at the panel",
            "device:fire_gateway",
            {"loop": LOOP, "device": FIRE_DEVICE, "on": ON},
        ),
        FaultKind(
            "fire_loop_fault",
            "a detection loop of a fire panel gateway is in fault (open/short circuit)",
            "device:fire_gateway",
            {"loop": LOOP, "on": ON},
        ),
        FaultKind(
            "camera_offline",
            "a simulated camera closes its ports (connections refused)",
            "camera",
            {"on": ON},
        ),
        FaultKind(
            "camera_hung",
            "a simulated camera accepts connections and never answers",
            "camera",
            {"on": ON},
        ),
        FaultKind(
            "camera_wrong",
            "a simulated camera answers with errors (RTSP 503, HTTP 500, SOAP fault)",
            "camera",
            {"on": ON},
        ),
        FaultKind(
            "meter_reset", "the meter's energy counter restarts from 0", "device:energy_meter"
        ),
        FaultKind(
            "meter_rollover",
            "preset the meter's counter just below its register's wrap",
            "device:energy_meter",
            {"before_kwh": Param(_number(1e-6, 1e12), 1.0, "kWh left before the wrap")},
        ),
        FaultKind(
            "hvac_fault",
            "the HVAC unit reports a fault code and stops conditioning",
            "device:hvac_fancoil",
            {"code": Param(_number(0, 65535, integer=True), None, "fault code, 0 clears")},
        ),
        FaultKind(
            "gpio_input",
            "drive a GPIO input pin high (on) or low (off)",
            "device:gpio_input",
            {"on": ON},
        ),
        FaultKind("broker_stop", "stop the MQTT broker", "none"),
        FaultKind("broker_start", "start the MQTT broker again", "none"),
        FaultKind(
            "broker_auth",
            "restart the MQTT broker refusing every client's credentials (off: accepting)",
            "none",
            {"on": ON},
        ),
        FaultKind(
            "clock_unsynced",
            "the venue's clock reports that NTP lost synchronisation (off: synchronised)",
            "none",
            {"on": ON},
        ),
        FaultKind("heal", "clear every fault of a device or bus (`all`: everything)", "any"),
    ]
}


@dataclass(frozen=True)
class FaultRequest:
    kind: str
    target: str | None
    params: dict[str, Any]


@dataclass(frozen=True)
class Targets:
    """What exists in the running venue: device id -> profile, Modbus bus ids."""

    devices: Mapping[str, str]
    modbus_devices: frozenset[str]
    buses: frozenset[str]
    cameras: frozenset[str] = frozenset()
    """Simulated network cameras (sim.cameras) attached to the venue."""


def validate(
    kind: str, target: str | None, params: Mapping[str, Any], targets: Targets
) -> FaultRequest:
    spec = KINDS.get(kind)
    if spec is None:
        raise FaultError("kind", f"unknown fault {kind!r}", KINDS)
    if spec.target == "none":
        if target not in (None, ""):
            raise FaultError("target", f"{kind} takes no target")
        target = None
    elif target in (None, ""):
        raise FaultError("target", f"{kind} needs a target", _choices(spec, targets))
    elif target not in _choices(spec, targets):
        what = spec.target if spec.target in ("bus", "camera") else "device"
        profiles = spec.target_profiles()
        why = f"unknown {what} {target!r}"
        if target in targets.devices and profiles:
            why = (
                f"{target!r} is a {targets.devices[target]}, {kind} needs a {' or '.join(profiles)}"
            )
        elif target in targets.devices and spec.target == "device":
            why = f"{target!r} is not a Modbus device"
        raise FaultError("target", why, _choices(spec, targets))
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise FaultError("params", f"{kind} has no parameter {', '.join(unknown)}", spec.params)
    values: dict[str, Any] = {}
    for name, p in spec.params.items():
        if name in params:
            values[name] = p.parse(name, params[name])
        elif p.default is None:
            raise FaultError(name, f"{kind} needs {name}= ({p.doc})", spec.params)
        else:
            values[name] = p.default
    return FaultRequest(kind, target, values)


def _choices(spec: FaultKind, targets: Targets) -> list[str]:
    if spec.target == "bus":
        return sorted(targets.buses)
    if spec.target == "camera":
        return sorted(targets.cameras)
    if spec.target == "device":
        return sorted(targets.modbus_devices)
    if spec.target == "any":
        return ["all", *sorted(targets.devices), *sorted(targets.buses), *sorted(targets.cameras)]
    profiles = spec.target_profiles()
    return sorted(d for d, prof in targets.devices.items() if prof in profiles)


def parse_cli_params(items: list[str]) -> dict[str, str]:
    """`["channel=3", "off"]` -> {"channel": "3", "on": "off"} (a bare on/off sets `on`)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" in item:
            key, _, value = item.partition("=")
            if not key:
                raise FaultError("params", f"{item!r} has no name before '='")
            out[key.strip()] = value.strip()
        elif item.lower() in ("on", "off"):
            out["on"] = item
        else:
            raise FaultError("params", f"{item!r} is not NAME=VALUE (or on/off)")
    return out


def describe() -> str:
    """The catalogue as text, for `edge-sim fault --list` and the docs."""
    lines = []
    for k in KINDS.values():
        params = " ".join(
            f"{n}=" + ("?" if p.default is None else str(p.default).lower())
            for n, p in k.params.items()
        )
        lines.append(f"{k.name:<15} {k.target:<28} {params:<26} {k.doc}")
    return "\n".join(lines)
