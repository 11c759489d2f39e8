"""The conformance consumer (tests/uplink/conformance.py, written from docs/mqtt.md alone)
over a simulated afternoon: every field detector fired by the simulator's faults, the
broker down for a while, and edged restarted in the middle.

The day is the one of tests/alarms/test_sim_faults.py (the real daemon on a stepped clock
against the simulated venue over real Modbus TCP), with a real mosquitto in front of the
consumer. At the end the consumer must have no complaint, and the latest summary must
equal the simulator's truth.
"""

from __future__ import annotations

from pathlib import Path

from edge.automation.reconciler import Cause
from edge.clock import SimClock
from edge.gates import pulse_gate
from sim.broker import MosquittoBroker
from sim.venue import SimVenue
from tests import brokers
from tests.alarms.test_sim_faults import BOOKINGS, Day, at, venue_toml
from tests.simday import daemon_on, quiet
from tests.uplink.conformance import Conformance

mosquitto = brokers.mosquitto


async def test_a_day_as_the_cloud_sees_it(tmp_path: Path, mosquitto: MosquittoBroker) -> None:
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    src = tmp_path / "venue.toml"
    src.write_text(venue_toml(state, run) + "\n[uplink]\nbackoff_initial_s = 0.1\n"
                   "backoff_cap_s = 0.5\n")  # fmt: skip
    clock = SimClock(at(12, 30))
    async with (
        Conformance(mosquitto.host, mosquitto.port, "faults", "gw-1") as cloud,
        SimVenue.from_config(
            src, clock, workdir=tmp_path / "sim", broker=mosquitto,
            uplink=(mosquitto.host, mosquitto.port),
        ) as venue,
    ):  # fmt: skip
        async with daemon_on(venue, clock, BOOKINGS) as daemon:
            day = Day(venue, clock, daemon)
            await quiet(daemon)
            await day.until("uplink", lambda: day.stores.link.connected, at(12, 35))
            # Sensor offline, then back.
            await venue.fault("offline", "env-a")
            await day.until_state("comm_lost:env-a", "active", at(12, 40))
            # The broker goes away while the door is forced and a technician opens it.
            await venue.fault("broker_stop")
            await venue.fault("door_forced", "gate-1")
            await day.until_state("door_forced:gate-1", "active", at(12, 50))
            await venue.fault("heal", "env-a")
            await day.until_state("comm_lost:env-a", "cleared", at(12, 55))
            await venue.fault("door_forced", "gate-1", on=False)
            await day.until_state("door_forced:gate-1", "returned", at(13, 0))
            day.alarms.ack("door_forced:gate-1", "technician")
            await venue.fault("door_held", "gate-1")
            drives = daemon.venue.get().gates
            cause = Cause("technician", "court-door", actor="technician:test")
            assert await pulse_gate(day.stores.outputs, drives, "court-door", cause)
            await day.until_state("door_held_open:gate-1", "active", at(13, 10))
            await venue.fault("door_held", "gate-1", on=False)
            await day.until_state("door_held_open:gate-1", "cleared", at(13, 15))
            await venue.fault("broker_start")
            await day.until("uplink back", lambda: day.stores.link.connected, at(13, 20))
            # A crowd: CO2 climbs (raised before the restart, cleared after it).
            venue.set_occupancy("hall-a", 3000)
            await day.until_state("co2_high:env-a.co2", "active", at(13, 40))
        # edged restarts (a clean stop and a new process on the same state).
        async with daemon_on(venue, clock, BOOKINGS) as daemon:
            day = Day(venue, clock, daemon)
            await quiet(daemon)
            venue.set_occupancy("hall-a", None)
            await day.until_state("co2_high:env-a.co2", "cleared", at(14, 10))
            # The booking's lights, a lamp failure, then the air handler fails.
            await day.run_to(at(14, 5))
            await venue.fault("lamp_failure", "lights-c1", channel=1)
            await day.until_state("lamp_failure:lights-c1.ch1", "active", at(14, 15))
            await venue.fault("lamp_failure", "lights-c1", channel=1, on=False)
            await day.until_state("lamp_failure:lights-c1.ch1", "returned", at(14, 20))
            day.alarms.ack("lamp_failure:lights-c1.ch1", "technician")
            await day.until_state("temperature_range:env-a.temperature", "cleared", at(14, 30))
            await venue.fault("hvac_fault", "ahu-a", code=3)
            await day.until_state("hvac_not_ready:ahu-a", "active", at(15, 15))
            await day.until_state("temperature_range:env-a.temperature", "active", at(16, 0))
            await venue.fault("heal", "ahu-a")
            await day.until_state("hvac_not_ready:ahu-a", "cleared", at(16, 45))
            await day.until_state("temperature_range:env-a.temperature", "cleared", at(16, 45))
            # The booking ends at 17:00; its energy total follows. A contactor welds.
            await day.run_to(at(17, 15))
            await venue.fault("stuck_on", "lights-c1", channel=1)
            await day.until_state("lights_left_on:court-1", "active", at(17, 25))
            await day.run_to(at(17, 30))
            await quiet(daemon)
            truth_offline = sorted(
                d for d, up in daemon.stores.points.devices().items() if up is not True
            )
            open_now = {r.alarm_id for r in day.alarms.open_alarms()}

            def settled() -> bool:
                sums = cloud.by_stream["summary"]
                return bool(sums) and set(cloud.open_alarms()) == open_now

            for _ in range(200):  # let the outbox drain to the consumer
                if settled():
                    break
                await day.step(5)
    problems = cloud.verdict()
    counts = {s: len(v) for s, v in sorted(cloud.by_stream.items())}
    print(f"\nconsumer: {len(cloud.unique)} unique messages {counts}, "
          f"{cloud.reconnects} reconnects; open alarms {sorted(cloud.open_alarms())}")  # fmt: skip
    assert not problems, problems[:10]
    assert set(cloud.open_alarms()) == open_now
    latest = sorted(cloud.by_stream["summary"], key=lambda m: m["seq"])[-1]
    assert latest["offline"] == truth_offline
    totals = [e for e in cloud.by_stream["energy"] if e["kind"] == "booking_total"]
    assert [e["booking_id"] for e in totals] == ["b1"]
    assert cloud.reconnects >= 1  # the broker really went away under the consumer
