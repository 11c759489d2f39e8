"""The conformance consumer (tests/uplink/conformance.py, written from docs/mqtt.md alone)
over a simulated afternoon in which every built-in detector fires, the broker is down for a
while and then refuses the gateway, and edged restarts on a damaged database.

The day extends the one of tests/alarms/test_sim_faults.py (the real daemon on a stepped
clock against the simulated venue over real Modbus TCP) with a fire panel gateway, a small
outbox high-water mark, a crowd, the venue clock losing NTP, a forged booking flood and a
broker off this machine (reached through a non-loopback address of this host, so the
config's `allow_unsigned` counts). Every fault comes from the simulator's catalogue or from
what an attacker or a power cut would do. At the end the consumer must have no complaint and:

- every detector of docs/alarms.md raised at least once, and the doc lists exactly the
  detectors the gateway has;
- each alarm's transitions on the wire are the engine's, in order (none dropped);
- the latest birth equals the profile files (unit, datatype, writable, range);
- every event kind, energy kind and alarm class on the wire is documented, and every
  example of docs/mqtt.md whose kind was sent has the keys of a message actually sent;
- at seven checkpoints of the day, the latest summary the consumer holds says what the
  simulator says (lights on, devices online, fire devices normal / in alarm / in fault).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import tomllib
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.alarms.classes import builtin_classes
from edge.clock import SimClock
from edge.config.alarms import AlarmsConfig
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from sim.venue import SimVenue
from tests.alarms.test_sim_faults import BOOKINGS, DEVICES, VENUE, Day, at
from tests.brokers import publish_lines
from tests.daemon.procs import edgectl
from tests.simday import daemon_on, devices_toml, quiet, site_header
from tests.storage.damage import checkpoint, pages, trash_page
from tests.uplink.conformance import Conformance
from tests.uplink.test_birth_inventory import expected_inventory, mismatches
from tests.uplink.test_docs_examples import examples

ROOT = Path(__file__).resolve().parents[2]
ACTION = {"active": "raise", "acked": "ack", "returned": "return", "shelved": "shelve",
          "cleared": "clear"}  # fmt: skip
"""docs/mqtt.md, alarm: the engine's states as the wire's actions."""

DAY_VENUE = (
    VENUE.replace(
        "co2_max_ppm = 1000\n",
        "co2_max_ppm = 1000\nhumidity_max_pct = 58\noutbox_high_ratio = 0.05\n"
        "clock_unsynced_after_s = 60\n",
    )
    + """
[uplink]
backoff_initial_s = 0.1
backoff_cap_s = 0.5
auth_retry_s = 1
outbox_max_messages = 2000
allow_unsigned = true

[[uplink.booking_keys]]
kid = "placeholder"
public_key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
"""
)
FIRE = [("fire-gw", "fire_gateway", "hall-a")]


def lan_address() -> str | None:
    """A non-loopback IPv4 address of this host (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            addr = str(s.getsockname()[0])
        except OSError:
            return None
    return None if addr.startswith("127.") else addr


@pytest.fixture
def lan_broker(tmp_path: Path) -> Iterator[tuple[MosquittoBroker, str | None]]:
    """mosquitto on every interface: the consumer on loopback, edged on a non-loopback
    address of this host (None: the host has none, edged uses loopback)."""
    lan = lan_address()
    if lan is None:
        warnings.warn(
            "no non-loopback IPv4 address: the day runs on loopback, where the config's "
            "allow_unsigned does not count, so unsigned_accepted cannot fire", stacklevel=1,
        )  # fmt: skip
    broker = MosquittoBroker(host="0.0.0.0", workdir=tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker, lan
    finally:
        broker.close()


def documented_detectors() -> set[str]:
    text = (ROOT / "docs" / "alarms.md").read_text(encoding="utf-8")
    table = text.split("## Built-in detectors", 1)[1].split("\n\n", 2)[1]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", table, re.M))


def documented_kinds(section: str) -> set[str]:
    """The backticked names in the first column of the table under `### {section}`."""
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    table = text.split(f"### {section}\n", 1)[1].split("```", 1)[0]
    rows = re.findall(r"^\| (`.*?) \|", table, re.M)[1:]  # not the header
    return {k for row in rows for k in re.findall(r"`([a-z0-9_]+)`", row)}


def shape_problems(sent: dict[str, list[dict[str, Any]]]) -> tuple[list[str], int]:
    """Doc examples whose (stream, kind) was sent but whose keys no sent message has."""
    problems, matched = [], 0
    for ex in examples():
        stream = ex.get("stream")
        if stream not in sent:
            continue
        same = [m for m in sent[stream] if m.get("kind") == ex.get("kind")]
        if not same:
            continue
        matched += 1
        keys = set(ex)
        if not any(set(m) == keys for m in same):
            problems.append(f"{stream}/{ex.get('kind')}: doc keys {sorted(keys)}, sent "
                            f"{sorted(set(same[-1]))}")  # fmt: skip
    return problems, matched


async def forged_flood(port: int, topic: str, n: int) -> None:
    """An attacker on the broker, in a process of its own: `n` unsigned snapshots, QoS 0,
    as fast as mosquitto_pub sends them (one per line)."""
    booking = {"booking_id": "X-1", "zone": "court-1", "start": "2026-07-15T10:00:00Z",
               "end": "2026-07-15T11:00:00Z", "member": "attacker", "status": "confirmed",
               "version": 99}  # fmt: skip
    lines = b"".join(json.dumps({"version": 99 + i, "bookings": [booking]}).encode() + b"\n"
                     for i in range(n))  # fmt: skip
    await publish_lines(port, topic, lines)


def sim_truth(venue: SimVenue) -> dict[str, Any]:
    """The simulator's state in the summary's terms (docs/mqtt.md, summary)."""
    lights = venue.world.devices["lights-c1"].truth()
    fire = venue.world.devices["fire-gw"].truth()["counts"]
    return {
        "lights_on": sum(bool(on) for on in lights["commanded"].values()),
        "devices_online": sum(not unit.offline for unit in venue.units.values()),
        "fire_devices_normal": fire["normal"],
        "fire_devices_alarm": fire["alarm"],
        "fire_devices_fault": fire["fault"],
    }


async def summary_is_truth(
    day: Day, cloud: Conformance, venue: SimVenue, by: Any
) -> dict[str, Any]:
    """Step until the latest summary the consumer holds says what the simulator says."""

    def same() -> bool:
        sums = sorted(cloud.by_stream["summary"], key=lambda m: m["seq"])
        return bool(sums) and all(sums[-1]["venue"][k] == v for k, v in sim_truth(venue).items())

    await day.until(f"summary = {sim_truth(venue)}", same, by)
    return sim_truth(venue)


async def technician(run: Path, *args: str) -> None:
    """What the technician does on site goes through edgectl (an `operation` event)."""
    done = await asyncio.to_thread(edgectl, run, *args)
    assert done.returncode == 0, done.stderr


async def test_a_day_as_the_cloud_sees_it(
    tmp_path: Path, lan_broker: tuple[MosquittoBroker, str | None]
) -> None:
    broker, lan = lan_broker
    off_machine = lan is not None  # then unsigned_accepted fires
    state, run = tmp_path / "state", tmp_path / "run"
    state.mkdir()
    src = tmp_path / "venue.toml"
    src.write_text(site_header("faults", state, run) + DAY_VENUE
                   + devices_toml(DEVICES + FIRE, "tcp-1", 5))  # fmt: skip
    clock = SimClock(at(12, 30))
    seen: dict[str, list[str]] = defaultdict(list)
    checks: list[dict[str, Any]] = []  # the summary equal to the simulator's truth

    def day_on(daemon: Any) -> Day:
        day = Day(venue, clock, daemon)
        day.alarms.subscribe(lambda ev: seen[ev.alarm_id].append(ACTION[ev.state.value]))
        return day

    async with (
        Conformance("127.0.0.1", broker.port, "faults", "gw-1") as cloud,
        SimVenue.from_config(
            src, clock, workdir=tmp_path / "sim", broker=broker,
            uplink=(lan or "127.0.0.1", broker.port),
        ) as venue,
    ):  # fmt: skip
        runtime = venue.runtime_config_path
        run_dir = Path(tomllib.loads(runtime.read_text())["storage"]["runtime_dir"])
        async with daemon_on(venue, clock, BOOKINGS) as daemon:
            day = day_on(daemon)
            await quiet(daemon)
            await day.until("uplink", lambda: day.stores.link.connected, at(12, 35))
            if off_machine:
                await day.until_state("unsigned_accepted:uplink", "active", at(12, 35))
            checks.append(await summary_is_truth(day, cloud, venue, at(12, 40)))
            # Sensor offline, then back.
            await venue.fault("offline", "env-a")
            await day.until_state("comm_lost:env-a", "active", at(12, 40))
            checks.append(await summary_is_truth(day, cloud, venue, at(12, 45)))
            # The broker goes away while the door is forced and a technician opens it;
            # the outbox fills past its (small) high-water mark.
            await venue.fault("broker_stop")
            await venue.fault("door_forced", "gate-1")
            await day.until_state("door_forced:gate-1", "active", at(12, 50))
            await venue.fault("heal", "env-a")
            await day.until_state("comm_lost:env-a", "cleared", at(12, 55))
            await venue.fault("door_forced", "gate-1", on=False)
            await day.until_state("door_forced:gate-1", "returned", at(13, 0))
            await technician(run_dir, "alarms", "ack", "door_forced:gate-1")
            await venue.fault("door_held", "gate-1")
            await technician(run_dir, "gate", "open", "court-door")
            await day.until_state("door_held_open:gate-1", "active", at(13, 10))
            await venue.fault("door_held", "gate-1", on=False)
            await day.until_state("door_held_open:gate-1", "cleared", at(13, 15))
            await day.until_state("outbox_high:uplink", "active", at(13, 15))
            # The broker comes back refusing the gateway's credentials, then accepts it.
            await venue.fault("broker_auth")
            await day.until_state("uplink_auth:uplink", "active", at(13, 20))
            await venue.fault("broker_auth", on=False)
            await day.until("uplink back", lambda: day.stores.link.connected, at(13, 25))
            await day.until_state("uplink_auth:uplink", "cleared", at(13, 25))
            await day.until_state("outbox_high:uplink", "cleared", at(13, 30))
            checks.append(await summary_is_truth(day, cloud, venue, at(13, 35)))
            # The gateway's clock loses NTP for a while.
            await venue.fault("clock_unsynced")
            await day.until_state("clock_unsynced:system", "active", at(13, 35))
            await venue.fault("clock_unsynced", on=False)
            await day.until_state("clock_unsynced:system", "cleared", at(13, 40))
            # A crowd: CO2 and humidity climb (raised before the restart, cleared after).
            venue.set_occupancy("hall-a", 3000)
            await day.until_state("co2_high:env-a.co2", "active", at(14, 0))
            await day.until_state("humidity_range:env-a.humidity", "active", at(14, 0))
        # A power cut damages the journal on the card; the installer adds the command key.
        db = Path(tomllib.loads(runtime.read_text())["storage"]["dir"]) / "edged.db"
        checkpoint(db)
        trash_page(db, pages(db, "journal", "leaf")[0][0])
        key = venue.keys.entry("cloud", venue.keys.commands)["public_key"]
        with runtime.open("a") as f:
            f.write(f'\n[[uplink.command_keys]]\nkid = "cloud"\npublic_key = "{key}"\n')
        async with daemon_on(venue, clock, None) as daemon:
            day = day_on(daemon)
            await quiet(daemon)
            assert daemon.stores is not None and daemon.stores.db.report.recovered_from
            await day.until_state("storage_error:database", "returned", at(14, 5))
            await technician(run_dir, "alarms", "ack", "storage_error:database")
            if off_machine:
                await day.until_state("unsigned_accepted:uplink", "cleared", at(14, 5))
            # The cloud asks for a setpoint beyond the unit's range: refused, answered.
            signer = venue.keys.commands
            async with CloudEmulator(
                "127.0.0.1", broker.port, "faults", "gw-1", signing_key=signer, kid="cloud"
            ) as ops:
                res = await ops.command("set_point", {"point": "ahu-a.setpoint", "value": 40},
                                        now=clock.now(), within=20)  # fmt: skip
            assert (res["ok"], res["code"]) == (False, "out_of_range")
            venue.set_occupancy("hall-a", None)
            await day.until_state("co2_high:env-a.co2", "cleared", at(14, 30))
            await day.until_state("humidity_range:env-a.humidity", "cleared", at(14, 30))
            # The booking's lights (their first switch-on is due maintenance), a lamp
            # failure, then the air handler fails.
            await day.until_state("maintenance_due:lights-c1.ch1_on", "active", at(14, 35))
            checks.append(await summary_is_truth(day, cloud, venue, at(14, 40)))
            await venue.fault("lamp_failure", "lights-c1", channel=1)
            await day.until_state("lamp_failure:lights-c1.ch1", "active", at(14, 45))
            await venue.fault("lamp_failure", "lights-c1", channel=1, on=False)
            await day.until_state("lamp_failure:lights-c1.ch1", "returned", at(14, 50))
            await technician(run_dir, "alarms", "ack", "lamp_failure:lights-c1.ch1")
            await day.until_state("temperature_range:env-a.temperature", "cleared", at(15, 0))
            await venue.fault("hvac_fault", "ahu-a", code=3)
            await day.until_state("hvac_not_ready:ahu-a", "active", at(15, 45))
            await day.until_state("temperature_range:env-a.temperature", "active", at(16, 30))
            await venue.fault("heal", "ahu-a")
            await day.until_state("hvac_not_ready:ahu-a", "cleared", at(16, 55))
            await day.until_state("temperature_range:env-a.temperature", "cleared", at(16, 55))
            # The booking ends at 17:00; its energy total follows. A contactor welds.
            await day.run_to(at(17, 15))
            await venue.fault("stuck_on", "lights-c1", channel=1)
            await day.until_state("lights_left_on:court-1", "active", at(17, 25))
            checks.append(await summary_is_truth(day, cloud, venue, at(17, 30)))
            # An attacker floods forged snapshots. The cloud's signed one, retained, comes
            # in the middle of it: dropped with the flood or not, edged subscribes again
            # once the lane drained, mosquitto re-sends it, and it holds.
            flood = asyncio.create_task(forged_flood(broker.port, cloud.root + "bookings", 3000))
            await day.until_state("inbound_flood:bookings", "active", at(17, 30))
            b1 = {"booking_id": "b1", "zone": "court-1", "start": at(14).isoformat(),
                  "end": at(17).isoformat(), "member": "m", "status": "confirmed",
                  "version": 2}  # fmt: skip
            async with CloudEmulator(
                "127.0.0.1", broker.port, "faults", "gw-1",
                booking_key=venue.keys.bookings, booking_kid=venue.keys.booking_kid,
            ) as publisher:  # fmt: skip
                await publisher.publish_snapshot(2, [b1])
            await flood
            await day.until_state("inbound_flood:bookings", "cleared", at(17, 35))
            await day.until_state("bookings_refused:bookings", "returned", at(17, 40))
            assert daemon.stores.bookings.version == 2
            await technician(run_dir, "alarms", "ack", "bookings_refused:bookings")
            # Fire: a detector in alarm, another in fault, a loop fault, the panel itself.
            await venue.fault("fire_device_alarm", "fire-gw", loop=3, device=17)
            await venue.fault("fire_device_fault", "fire-gw", loop=2, device=5)
            await venue.fault("fire_loop_fault", "fire-gw", loop=4)
            await venue.fault("fire_alarm", "fire-gw")
            await venue.fault("fire_fault", "fire-gw")
            for cls in ("fire_device_alarm", "fire_device_fault", "fire_loop_fault",
                        "fire_alarm", "fire_fault"):  # fmt: skip
                await day.until(cls, lambda c=cls: any(  # type: ignore[misc]
                    r.alarm_id.startswith(c + ":") for r in day.alarms.open_alarms()),
                    at(17, 50))  # fmt: skip
            checks.append(await summary_is_truth(day, cloud, venue, at(17, 50)))
            await venue.fault("heal", "fire-gw")
            checks.append(await summary_is_truth(day, cloud, venue, at(17, 55)))
            await day.run_to(at(17, 55))
            for r in day.alarms.open_alarms():
                if r.alarm_id.startswith("fire_") and r.state.value == "returned":
                    await technician(run_dir, "alarms", "ack", r.alarm_id)
            await day.run_to(at(18, 0))
            await quiet(daemon)
            truth_offline = sorted(
                d for d, up in daemon.stores.points.devices().items() if up is not True
            )
            open_now = {r.alarm_id for r in day.alarms.open_alarms()}

            def settled() -> bool:
                return bool(cloud.by_stream["summary"]) and set(cloud.open_alarms()) == open_now

            for _ in range(200):  # let the outbox drain to the consumer
                if settled():
                    break
                await day.step(5)
            venue_data = tomllib.loads(runtime.read_text())

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

    # Every detector fired, and the doc lists exactly the gateway's detectors.
    documented = documented_detectors()
    assert documented == set(builtin_classes(AlarmsConfig()))
    raised = {a["class"] for a in cloud.by_stream["alarm"] if a["action"] == "raise"}
    missing = documented - raised - (set() if off_machine else {"unsigned_accepted"})
    assert missing == set(), "detectors that never fired in the day"
    # No transition dropped: the wire carries the engine's sequence for every alarm.
    wire: dict[str, list[str]] = defaultdict(list)
    for a in sorted(cloud.by_stream["alarm"], key=lambda m: m["seq"]):
        wire[a["alarm_id"]].append(a["action"])
    # Two alarms move only while edged starts, before a test can subscribe to its engine:
    # unsigned_accepted (raised at the first start, cleared at the restart with the command
    # key configured) and the salvage's storage_error (at the restart).
    at_start = {"storage_error:database": ["raise", "return"]}
    if off_machine:
        at_start["unsigned_accepted:uplink"] = ["raise", "clear"]
    expected = {i: at_start.get(i, []) + seen.get(i, []) for i in set(seen) | set(at_start)}
    assert dict(wire) == expected
    # The inventory is the profiles'.
    heads = sorted(cloud.births.values(), key=lambda h: h["seq"])
    parts = cloud.parts[heads[-1]["birth_id"]]
    assert mismatches(venue_data, [parts[i] for i in range(heads[-1]["parts"])]) == []
    assert set(expected_inventory(venue_data)) == {d["id"] for d in venue_data["devices"]}
    # What was sent is documented, and the doc's examples look like what was sent.
    kinds = {e["kind"] for e in cloud.by_stream["event"]}
    assert kinds <= documented_kinds("event"), kinds - documented_kinds("event")
    energy = {e["kind"] for e in cloud.by_stream["energy"]}
    assert energy <= documented_kinds("energy"), energy - documented_kinds("energy")
    shapes, matched = shape_problems(cloud.by_stream)
    print(f"summary equal to the simulator's truth at {len(checks)} checks: {checks}")
    assert len(checks) == 7 and checks[1]["devices_online"] == checks[0]["devices_online"] - 1
    assert checks[5]["fire_devices_alarm"] == 1 and checks[5]["fire_devices_fault"] == 1
    print(f"doc examples matched to sent messages: {matched}; event kinds sent {sorted(kinds)}")
    assert shapes == []
