"""Birth as a cloud consumer sees it, checked against the profile files.

The consumer and every expectation here are written from docs/mqtt.md ("birth") and the
TOML files (the venue and drivers/profiles/) only: nothing from edge.inventory or the
contract types is used to decide what is right. The gateway side is the real uplink
session on a real mosquitto.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt

from drivers.modbus.events import DeviceStatus, PointUpdate, Quality
from edge.field.points import PointTable
from edge.inventory import birth
from edge.uplink import BirthBody
from edge.venue import Venue, load_venue
from sim.broker import MosquittoBroker
from tests.uplink.conftest import GW, SITE, UplinkFactory

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "drivers" / "profiles"
EXAMPLE = ROOT / "examples" / "venue.toml"
LIMIT = 128 * 1024  # AWS IoT Core's largest message


# ---------------------------------------------------------------- the consumer


class BirthCollector:
    """Subscribes to `birth` and `birth/part/+`; a birth is complete once the head and
    parts 0..parts-1 with the head's `birth_id` are held (docs/mqtt.md)."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self.root = f"edge/v1/{SITE}/{GW}/"
        self._client = aiomqtt.Client(broker.host, broker.port)
        self.sizes: dict[str, list[int]] = {}
        self.heads: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, dict[int, dict[str, Any]]] = {}
        self.topics: set[str] = set()
        self.changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BirthCollector:
        await self._client.__aenter__()
        await self._client.subscribe([(self.root + "birth", 1), (self.root + "birth/part/+", 1)])
        self._task = asyncio.create_task(self._receive())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._client.__aexit__(None, None, None)

    async def _receive(self) -> None:
        async for message in self._client.messages:
            payload = message.payload
            assert isinstance(payload, bytes | bytearray)
            topic = message.topic.value[len(self.root) :]
            self.topics.add(topic)
            self.changed.set()
            if not payload:
                continue  # a cleared retained part
            self.sizes.setdefault(topic, []).append(len(payload))
            msg = json.loads(payload)
            if topic == "birth":
                assert msg["stream"] == "birth"
                self.heads[msg["birth_id"]] = msg
            else:
                assert msg["stream"] == "birth_part" and topic == f"birth/part/{msg['part']}"
                self.parts.setdefault(msg["birth_id"], {})[msg["part"]] = msg

    def complete(self) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The latest complete birth: its head and its parts in order."""
        for head in sorted(self.heads.values(), key=lambda h: -h["seq"]):
            got = self.parts.get(head["birth_id"], {})
            if all(i in got for i in range(head["parts"])):
                parts = [got[i] for i in range(head["parts"])]
                assert all(p["parts"] == head["parts"] for p in parts)
                return head, parts
        return None

    async def wait_complete(
        self, within: float = 15.0, config_version: str | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The latest complete birth (of `config_version`, when given), waiting for it."""
        async with asyncio.timeout(within):
            while True:
                self.changed.clear()
                got = self.complete()
                if got is not None and config_version in (None, got[0]["config_version"]):
                    return got
                await self.changed.wait()


# ---------------------------------------------------------------- expectations from the files


GPIO_KINDS: dict[str, dict[str, Any]] = {
    # docs/drivers.md, GPIO: a relay is one writable bool point `relay` (gate.relay), an
    # input one bool point `state` (door.contact); they have no profile file.
    "gpio_relay": {"points": [{"name": "relay", "table": "coil", "writable": True,
                               "roles": ["gate.relay"]}]},
    "gpio_input": {"points": [{"name": "state", "table": "discrete",
                               "roles": ["door.contact"]}]},
}  # fmt: skip


def profile_points(device: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The device's points: its profile file with the device's `points` overrides."""
    data = GPIO_KINDS.get(device["profile"]) or tomllib.loads(
        (PROFILES / f"{device['profile']}.toml").read_text(encoding="utf-8")
    )
    overrides = device.get("points", {})
    return {p["name"]: {**p, **overrides.get(p["name"], {})} for p in data["points"]}


def wire_datatype(p: dict[str, Any]) -> str:
    """docs/drivers.md: `bool` by default in bit tables, `uint16` in register tables."""
    if "datatype" in p:
        return str(p["datatype"])
    return "bool" if p["table"] in ("coil", "discrete") else "uint16"


def json_type(p: dict[str, Any]) -> str:
    """docs/mqtt.md "birth": how `json_type` follows from the profile."""
    datatype = wire_datatype(p)
    if p.get("enum"):
        return "string"
    if datatype == "bool":
        return "boolean"
    if datatype in ("string", "status_table"):
        return "string"
    if datatype in ("float32", "float64") or p.get("scale", 1) != 1 or p.get("precision"):
        return "number"
    return "integer"


def role_point(points: dict[str, dict[str, Any]], role: str) -> str:
    return next(name for name, p in points.items() if role in p.get("roles", []))


def driven_outputs(venue: dict[str, Any]) -> set[str]:
    """docs/mqtt.md: writable = zone lights, a zone's HVAC enable and setpoint, gate relays,
    schedule and event rule outputs (and defaults and emergency air, absent here)."""
    devices = {d["id"]: d for d in venue["devices"]}
    out: set[str] = set()
    for z in venue.get("zones", []):
        out |= set(z.get("lights", []))
        for dev in z.get("hvac", []):
            points = profile_points(devices[dev])
            out |= {f"{dev}.{role_point(points, r)}" for r in ("hvac.enable", "hvac.setpoint")}
    for g in venue.get("access", {}).get("gates", []):
        out.add(f"{g['device']}.{role_point(profile_points(devices[g['device']]), 'gate.relay')}")
    rules = venue.get("rules", {})
    assert not {"defaults", "emergency"} & set(rules), "extend this consumer for them"
    out |= {o["output"] for s in rules.get("schedules", []) for o in s["outputs"]}
    out |= {a["output"] for r in rules.get("event_rules", []) for a in r["actions"]}
    return out


def expected_inventory(venue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """device id -> what its birth entry must say, points by name."""
    writable = driven_outputs(venue)
    light_zone = {ref: z["id"] for z in venue.get("zones", []) for ref in z.get("lights", [])}
    out: dict[str, dict[str, Any]] = {}
    for d in venue["devices"]:
        points = {}
        for name, p in profile_points(d).items():
            ref = f"{d['id']}.{name}"
            points[name] = {
                "datatype": wire_datatype(p),
                "json_type": json_type(p),
                "unit": p.get("unit") or None,
                "writable": ref in writable,
                "min": p.get("min"),
                "max": p.get("max"),
                "enum": p.get("enum"),
                "roles": p.get("roles", []),
                "zone": light_zone.get(ref, d.get("zone")),
            }
        out[d["id"]] = {
            "profile": d["profile"],
            "zone": d.get("zone"),
            "floor": d.get("location", {}).get("floor", 0),
            "points": points,
        }
    return out


def mismatches(venue: dict[str, Any], parts: list[dict[str, Any]]) -> list[str]:
    """Every difference between the birth's devices and the files, as text."""
    want = expected_inventory(venue)
    got = {d["id"]: d for p in parts for d in p["devices"]}
    problems = [f"device {dev}: missing" for dev in sorted(set(want) - set(got))]
    problems += [f"device {dev}: not in the venue" for dev in sorted(set(got) - set(want))]
    for dev in sorted(set(want) & set(got)):
        w, g = want[dev], got[dev]
        for key in ("profile", "zone", "floor"):
            if w[key] != g[key]:
                problems.append(f"{dev}.{key}: birth {g[key]!r}, files {w[key]!r}")
        points = {p["name"]: p for p in g["points"]}
        if set(points) != set(w["points"]):
            problems.append(f"{dev}: points {sorted(points)} != {sorted(w['points'])}")
        for name in sorted(set(points) & set(w["points"])):
            for key, value in w["points"][name].items():
                if points[name].get(key, "<absent>") != value:
                    problems.append(
                        f"{dev}.{name}.{key}: birth {points[name].get(key, '<absent>')!r}, "
                        f"files {value!r}"
                    )
    return problems


# ---------------------------------------------------------------- the gateway side


def provider(venue: Venue, table: PointTable) -> Callable[[], Any]:
    async def make() -> BirthBody:
        return birth(venue, table, 1)

    return make


def fill(venue: Venue, table: PointTable) -> None:
    """Every point read good with a value as long as its type allows (sizes are honest)."""
    now = datetime.now(UTC)
    for info in venue.points.values():
        value: bool | int | float | str
        if info.enum:
            value = max(info.enum.values(), key=len)
        elif info.datatype == "status_table":
            value = "n" * 2500
        elif info.json_type == "boolean":
            value = True
        elif info.json_type == "integer":
            value = 4294967295 if info.datatype.endswith("32") else 65535
        else:
            value = -12345.678
        table.publish(PointUpdate(info.device, info.name, value, Quality.GOOD, now))
    for d in venue.config.devices:
        table.publish(DeviceStatus(d.id, True, now))


def generated_venue(tmp: Path, devices: int = 300) -> Path:
    """A venue of `devices` devices on the shipped profiles: rooms of two lighting
    controllers, two fan-coils, an environment sensor and a meter, a fire panel
    gateway and a fire panel; zones name lights and HVAC as a real venue does."""
    lines = [
        '[site]\nid = "big"\ngateway = "gw-1"\ntimezone = "Asia/Shanghai"\n',
        f'[storage]\ndir = "{tmp / "state"}"\nruntime_dir = "{tmp / "run"}"\n',
        '[uplink]\nhost = "127.0.0.1"\n',
    ]
    bus_of = [f"tcp-{i}" for i in range(devices // 200 + 1)]
    for bus in bus_of:
        lines.append(f'[[buses]]\nid = "{bus}"\nkind = "modbus_tcp"\nhost = "127.0.0.1"\n')
    kinds = ["lighting_8ch", "lighting_8ch", "hvac_fancoil", "hvac_fancoil", "env_sensor"]
    kinds.append("energy_meter")
    rows: list[tuple[str, str, str]] = [("fire-gw", "fire_gateway", ""), ("fire", "fire_panel", "")]
    room = 0
    while len(rows) < devices:
        for i, kind in enumerate(kinds[: devices - len(rows)]):
            rows.append((f"r{room}-{kind.split('_')[0]}{i}", kind, f"room-{room}"))
        room += 1
    for r in range(room):
        mine = [dev for dev, _, z in rows if z == f"room-{r}"]
        lights = [f'"{d}.ch{c}_on"' for d in mine if "lighting" in d for c in range(1, 7)]
        hvac = [f'"{d}"' for d in mine if "hvac" in d]
        lines.append(
            f'[[zones]]\nid = "room-{r}"\nkind = "room"\nname = "Room {r}"\n'
            f"lights = [{', '.join(lights)}]\nhvac = [{', '.join(hvac)}]\n"
        )
    for n, (dev, kind, zone) in enumerate(rows):
        where = f'zone = "{zone}"\n' if zone else ""
        lines.append(
            f'[[devices]]\nid = "{dev}"\nprofile = "{kind}"\nbus = "{bus_of[n // 200]}"\n'
            f'unit_id = {n % 200 + 1}\nname = "Device {dev} of the generated venue"\n{where}'
            f'location = {{ building = "main", floor = {n % 5}, room = "{zone or "plant"}" }}\n'
        )
    path = tmp / "big.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# ---------------------------------------------------------------- tests


async def test_example_venue_birth_matches_its_profiles(
    mosquitto: MosquittoBroker, make_uplink: UplinkFactory
) -> None:
    """Every point in the birth of examples/venue.toml: datatype, JSON type, unit,
    writable, range, enum labels, roles and zone as the files say; every message under
    128 KB; a consumer that joins later gets the whole birth from the retained messages."""
    venue = load_venue(EXAMPLE)
    table = PointTable()
    fill(venue, table)
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    async with BirthCollector(mosquitto) as early, make_uplink(birth=provider(venue, table)) as up:
        await up.connected_event.wait()
        head, parts = await early.wait_complete()
    assert mismatches(raw, parts) == []
    assert head["devices"] == len(raw["devices"]) == 97
    assert head["points"] == sum(len(d["points"]) for p in parts for d in p["devices"])
    assert [z["id"] for z in head["zones"]] == [z["id"] for z in raw["zones"]]
    sizes = {t: max(s) for t, s in early.sizes.items()}
    print(f"example venue: {len(parts)} parts, largest message {max(sizes.values())} bytes", sizes)
    assert max(sizes.values()) < LIMIT
    async with BirthCollector(mosquitto) as late:
        late_head, late_parts = await late.wait_complete()
    assert late_head["birth_id"] == head["birth_id"] and late_parts == parts


async def test_a_300_device_venue_birth_is_under_128_kb_and_lists_every_point(
    tmp_path: Path, mosquitto: MosquittoBroker, make_uplink: UplinkFactory
) -> None:
    """300 devices with every value as long as its type allows: each birth message under
    128 KB, and together they carry every point of every device, as the files say."""
    path = generated_venue(tmp_path)
    venue = load_venue(path)
    table = PointTable()
    fill(venue, table)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    async with BirthCollector(mosquitto) as cloud, make_uplink(birth=provider(venue, table)) as up:
        await up.connected_event.wait()
        head, parts = await cloud.wait_complete(30)
    assert len(raw["devices"]) == head["devices"] == 300
    assert mismatches(raw, parts) == []
    listed = {
        f"{d['id']}.{p['name']}" for part in parts for d in part["devices"] for p in d["points"]
    }
    assert listed == {f"{d['id']}.{n}" for d in raw["devices"] for n in profile_points(d)}
    assert head["points"] == len(listed)
    sizes = [s for got in cloud.sizes.values() for s in got]
    print(
        f"300 devices, {len(listed)} points: head {cloud.sizes['birth'][0]} bytes, "
        f"{len(parts)} parts, largest message {max(sizes)} bytes, total {sum(sizes)} bytes"
    )
    assert max(sizes) < LIMIT


async def test_a_smaller_birth_clears_the_surplus_retained_parts(
    tmp_path: Path, mosquitto: MosquittoBroker, make_uplink: UplinkFactory
) -> None:
    """After a rebirth with fewer parts, a consumer joining later finds only the new
    birth's parts on the broker."""
    venue = load_venue(generated_venue(tmp_path, devices=120))
    table = PointTable()
    fill(venue, table)
    full = birth(venue, table, 1)
    current = {"body": full}

    async def make() -> BirthBody:
        return current["body"]

    async with make_uplink(birth=make) as up:
        await up.connected_event.wait()
        async with BirthCollector(mosquitto) as first:
            head, _ = await first.wait_complete()
        assert head["parts"] > 1
        current["body"] = BirthBody(zones=full.zones, devices=full.devices[:3], config_version="2")
        assert up.link.request_rebirth()
        async with BirthCollector(mosquitto) as watcher:
            await watcher.wait_complete(config_version="2")
    async with BirthCollector(mosquitto) as late:
        new_head, new_parts = await late.wait_complete()
        await asyncio.sleep(0.3)  # every retained message has arrived
    assert (new_head["parts"], new_head["devices"]) == (1, 3)
    assert late.topics == {"birth", "birth/part/0"}
    assert [d["id"] for d in new_parts[0]["devices"]] == [d.id for d in full.devices[:3]]
