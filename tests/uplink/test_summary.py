"""The summary's figures from the stores: counted by role, a parent zone counting its
children, energy since local midnight counted once per interval (tests of the pure parts;
tests/daemon/test_fire_and_cameras_e2e.py checks the sent summary against the simulator)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from drivers.modbus.events import DeviceStatus, PointUpdate, Quality
from edge.field.points import PointTable
from edge.summary import EnergyToday, summarise, top_level_meters
from edge.venue import Venue, load_venue

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 7, 15, 20, 0, tzinfo=TZ)

VENUE = """
[site]
id = "s"
gateway = "g"
timezone = "Asia/Shanghai"

[[zones]]
id = "hall-a"
kind = "hall"

[[zones]]
id = "court-1"
kind = "court"
parent = "hall-a"
lights = ["lights-1.ch1_on", "lights-1.ch2_on"]

[[zones]]
id = "court-2"
kind = "court"
parent = "hall-a"
lights = ["lights-1.ch3_on"]

[[buses]]
id = "tcp"
kind = "modbus_tcp"
host = "127.0.0.1"

[[devices]]
id = "lights-1"
profile = "lighting_8ch"
bus = "tcp"
unit_id = 1
zone = "court-1"

[[devices]]
id = "meter-hall"
profile = "energy_meter"
bus = "tcp"
unit_id = 2
zone = "hall-a"

[[devices]]
id = "meter-c1"
profile = "energy_meter"
bus = "tcp"
unit_id = 3
zone = "court-1"
"""


def venue(tmp_path: Path) -> Venue:
    path = tmp_path / "venue.toml"
    path.write_text(VENUE)
    return load_venue(path)


def test_lights_and_devices_by_role_and_zone(tmp_path: Path) -> None:
    v = venue(tmp_path)
    points = PointTable()
    for ch, on in ((1, True), (2, False), (3, True)):
        points.publish(PointUpdate("lights-1", f"ch{ch}_on", on, Quality.GOOD, NOW))
    points.publish(DeviceStatus("lights-1", True, NOW))
    points.publish(DeviceStatus("meter-hall", False, NOW, "timeout"))
    body = summarise(v, points, [], EnergyToday(), "2026-07-15")
    # lighting_8ch has 8 switch channels: 2 read on, 8 in all; the device is in court-1,
    # but ch3 serves court-2 (the zone whose lights name it).
    assert (body.venue.lights_on, body.venue.lights_total) == (2, 8)
    assert (body.zones["court-2"].lights_on, body.zones["court-2"].lights_total) == (1, 1)
    assert (body.zones["court-1"].lights_on, body.zones["court-1"].lights_total) == (1, 7)
    assert body.zones["hall-a"].lights_total == 8  # the parent counts its courts
    assert (body.venue.devices_online, body.venue.devices_total) == (1, 3)
    assert (body.zones["court-2"].devices_online, body.zones["court-2"].devices_total) == (0, 0)
    assert body.venue.alarms_open.critical == 0
    assert body.offline == ["meter-c1", "meter-hall"]  # never heard from, and gone


def test_energy_today_counts_each_interval_once_and_only_top_meters(tmp_path: Path) -> None:
    v = venue(tmp_path)
    top = top_level_meters(v)
    assert top == {"meter-hall"}  # meter-c1 sits below the hall's meter (nesting inferred)
    today = EnergyToday(day=NOW.date(), top=top)
    end = NOW - timedelta(minutes=15)
    today.add("meter", "meter-hall", "hall-a", end, 2.0)
    today.add("meter", "meter-hall", "hall-a", end.astimezone(ZoneInfo("UTC")), 2.0)  # again
    today.add("meter", "meter-c1", "court-1", end, 0.5)  # inside the hall's 2.0
    today.add("zone", "court-1", "court-1", end, 0.5)
    today.add("zone", "hall-a", "hall-a", end, 1.5)
    assert today.venue == 2.0
    assert today.zones == {"court-1": 0.5, "hall-a": 1.5}
    body = summarise(v, PointTable(), [], today, "2026-07-15")
    assert body.venue.energy_today_kwh == 2.0 and body.zones["court-1"].energy_today_kwh == 0.5
