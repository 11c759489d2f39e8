"""`writable` in birth is what the cloud may write: a zone's HVAC setpoint outside any
booking is accepted, written to the device through the reconciler as an override and
journaled with the cloud as actor; every point's birth flag agrees with `set_point`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.brokers import mosquitto  # noqa: F401
from tests.daemon.rig import daemon_rig, until


def points_of(cloud: CloudEmulator) -> dict[str, dict[str, Any]]:
    """`device.point` -> its birth entry, from the latest complete birth (docs/mqtt.md)."""
    head = max(cloud.received["birth"], key=lambda h: h["seq"])
    parts = [p for p in cloud.received["birth_part"] if p["birth_id"] == head["birth_id"]]
    assert sorted(p["part"] for p in parts) == list(range(head["parts"]))
    return {
        f"{d['id']}.{p['name']}": p for part in parts for d in part["devices"] for p in d["points"]
    }


def birth_complete(cloud: CloudEmulator) -> bool:
    heads = cloud.received["birth"]
    if not heads:
        return False
    head = max(heads, key=lambda h: h["seq"])
    got = {p["part"] for p in cloud.received["birth_part"] if p["birth_id"] == head["birth_id"]}
    return got == set(range(head["parts"]))


def fitting_value(point: dict[str, Any]) -> bool | int | float:
    """A value inside the point's own range and the default setpoint guardrails."""
    if point["json_type"] == "boolean":
        return False
    if point["enum"]:
        return int(min(point["enum"], key=int))
    if point["min"] is not None and point["max"] is not None:
        return max(16.0, min(30.0, (point["min"] + point["max"]) / 2))
    return 1


async def test_cloud_set_point_outside_a_booking_reaches_the_device_and_the_journal(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """No booking: birth says the hall's setpoint is writable, the cloud's set_point is
    accepted, the fan-coil's register reads it back, and the journal names the cloud."""
    async with (
        daemon_rig(tmp_path, mosquitto.port) as rig,
        CloudEmulator(mosquitto.host, mosquitto.port, "mf", "gw-1") as cloud,
    ):
        await until(lambda: rig.stores.link.connected)
        await cloud.wait_for(lambda: birth_complete(cloud), within=10)
        assert rig.stores.bookings.version == 0 and rig.stores.bookings.snapshot() == ()
        setpoint = points_of(cloud)["hvac-a.setpoint"]
        assert (setpoint["writable"], setpoint["roles"], setpoint["zone"]) == (
            True, ["hvac.setpoint"], "hall-a",
        )  # fmt: skip
        res = await cloud.command("set_point", {"point": "hvac-a.setpoint", "value": 23.5})
        assert (res["ok"], res["code"]) == (True, "ok"), res
        await until(lambda: rig.hvac.get_holding(1) == [235], 10)  # 0.1 C steps
        override = rig.stores.overrides.get("hvac-a.setpoint")
        assert override is not None and (override.source, override.by) == ("cloud", res["cmd_id"])
        rows = await rig.stores.journal.query(kind="operation", subject="hvac-a.setpoint")
        assert [(r["actor_kind"], r["actor"], r["body"]["ok"]) for r in rows] == [
            ("cloud", res["cmd_id"], True)
        ]
        await cloud.wait_for(
            lambda: any(
                e["kind"] == "operation" and e["data"].get("actor_kind") == "cloud"
                for e in cloud.unique("event").values()
            ),
            within=10,
        )
    assert cloud.violations == []


async def test_birth_writable_is_exactly_what_set_point_accepts(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """For every point of the venue, a set_point with a value in range is accepted when
    birth says writable, and refused `not_writable` when it does not."""
    async with (
        daemon_rig(tmp_path, mosquitto.port) as rig,
        CloudEmulator(mosquitto.host, mosquitto.port, "mf", "gw-1") as cloud,
    ):
        await until(lambda: rig.stores.link.connected)
        await cloud.wait_for(lambda: birth_complete(cloud), within=10)
        points = points_of(cloud)
        assert len(points) == len(rig.daemon.venue.get().points) > 40
        disagree = []
        for ref, point in sorted(points.items()):
            args = {"point": ref, "value": fitting_value(point)}
            res = await cloud.command("set_point", args, within=10)
            if point["writable"] != res["ok"] or (not res["ok"] and res["code"] != "not_writable"):
                disagree.append((ref, point["writable"], res["code"], res["message"]))
        writable = sorted(ref for ref, p in points.items() if p["writable"])
    assert disagree == []
    assert writable == [
        "gate-1.relay", "hvac-a.on", "hvac-a.setpoint", "lights-a.ch1_on",
    ]  # fmt: skip
