"""A whole day on the simulated venue, in simulated time: every change at its instant.

The real daemon (buses, rules, reconciler, journal, alarms, energy) runs in this process
on a stepped clock shared with the simulator's physics; Modbus goes over real loopback
sockets. Simulated time stands still while a transaction is on the wire, so a write's
timestamp is the instant the rules asked for it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from edge.automation.reconciler import WriteRecord
from edge.clock import SimClock
from sim.venue import SimVenue
from tests.simday import daemon_on, quiet, site_header

TZ = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 23, tzinfo=TZ)  # a Monday

VENUE = """
[[zones]]
id = "hall-a"
kind = "hall"
target_temp_c = 25.0
hvac = ["ahu-a"]
sensors = ["env-a"]

[[zones]]
id = "court-1"
kind = "court"
parent = "hall-a"
lights = ["lights-a.ch1_on"]

[[zones]]
id = "court-2"
kind = "court"
parent = "hall-a"
lights = ["lights-a.ch2_on"]

[[zones]]
id = "court-3"
kind = "court"
parent = "hall-a"
lights = ["lights-a.ch3_on"]

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = 1502

[[devices]]
id = "lights-a"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "hall-a"
poll_interval = 10

[[devices]]
id = "ahu-a"
profile = "hvac_fancoil"
bus = "tcp-1"
unit_id = 2
zone = "hall-a"
poll_interval = 10

[[devices]]
id = "env-a"
profile = "env_sensor"
bus = "tcp-1"
unit_id = 3
zone = "hall-a"
poll_interval = 10
"""


def at(hh: int, mm: int) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


BOOKINGS = [
    ("b1", "court-1", at(8, 0), at(10, 0), "confirmed"),
    ("b2", "court-1", at(10, 0), at(12, 0), "confirmed"),  # back to back: no off/on
    ("b3", "court-2", at(9, 30), at(11, 0), "confirmed"),  # overlaps in the same hall
    ("b4", "court-2", at(15, 0), at(16, 0), "cancelled"),  # cancelled: nothing happens
    ("b5", "court-3", at(19, 0), at(21, 0), "confirmed"),
]
EXPECTED_LIGHTS = [
    ("lights-a.ch1_on", True, at(7, 55)),
    ("lights-a.ch2_on", True, at(9, 25)),
    ("lights-a.ch2_on", False, at(11, 10)),
    ("lights-a.ch1_on", False, at(12, 10)),
    ("lights-a.ch3_on", True, at(18, 55)),
    ("lights-a.ch3_on", False, at(21, 10)),
]


async def test_a_day_of_bookings(tmp_path: Path) -> None:
    """Lights at their instants (within 1 s), hall ready by each start, only necessary writes."""
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    src = tmp_path / "venue.toml"
    src.write_text(site_header("day", state, run) + VENUE)
    clock = SimClock(at(4, 0))
    writes: list[WriteRecord] = []
    temps_at_start: dict[str, float] = {}
    async with (
        SimVenue.from_config(src, clock, workdir=tmp_path / "sim") as venue,
        daemon_on(venue, clock, BOOKINGS) as daemon,
    ):
        assert daemon.stores is not None
        daemon.stores.outputs.writes.subscribe(writes.append)
        await quiet(daemon)
        automation = daemon.stores.automation
        end = at(22, 0)
        while clock.now() < end:
            # Land exactly on the next instant the rules announced (or 30 s on), so that a
            # write's timestamp measures the daemon and not the size of the test's steps.
            step = 30.0
            nxt = automation.last.next_change if automation.last else None
            if nxt is not None and nxt > clock.now():
                step = min(step, (nxt - clock.now()).total_seconds())
            for t in (at(8, 0), at(19, 0)):
                if t > clock.now():
                    step = min(step, (t - clock.now()).total_seconds())
            await clock.advance(step)
            await quiet(daemon)
            for name, t in (("b1", at(8, 0)), ("b5", at(19, 0))):
                if name not in temps_at_start and clock.now() >= t:
                    temps_at_start[name] = venue.truth.zone_temp_c("hall-a")

    lights = [(w.output, w.want.value, w.at) for w in writes if ".ch" in w.output]
    assert [(o, v) for o, v, _ in lights] == [(o, v) for o, v, _ in EXPECTED_LIGHTS]
    for (_, _, got), (_, _, want) in zip(lights, EXPECTED_LIGHTS, strict=True):
        assert abs((got - want).total_seconds()) <= 1.0, (got, want)
    hvac_on = [(w.want.value, w.at) for w in writes if w.output == "ahu-a.on"]
    assert [v for v, _ in hvac_on] == [True, False, True, False]
    assert at(5, 0) <= hvac_on[0][1] < at(8, 0)
    assert abs((hvac_on[1][1] - at(12, 0)).total_seconds()) <= 1.0
    assert at(16, 0) <= hvac_on[2][1] < at(19, 0)
    assert abs((hvac_on[3][1] - at(21, 0)).total_seconds()) <= 1.0
    for name, temp in temps_at_start.items():
        assert abs(temp - 25.0) <= 1.0, (name, temp)
    per_output: dict[str, int] = {}
    for w in writes:
        per_output[w.output] = per_output.get(w.output, 0) + 1
    assert set(per_output) <= {
        "lights-a.ch1_on",
        "lights-a.ch2_on",
        "lights-a.ch3_on",
        "ahu-a.on",
        "ahu-a.setpoint",
    }
    assert per_output.get("ahu-a.setpoint", 0) <= 2
    assert all(w.error is None for w in writes)
    print(
        "hall temperature at booking starts:", {k: round(v, 2) for k, v in temps_at_start.items()}
    )
    print("HVAC on/off:", [(v, t.astimezone(TZ).strftime("%H:%M:%S")) for v, t in hvac_on])
    print("writes per output:", per_output)
