"""The daemon's middle floor: stores outlive components, events outlive the uplink, one
operations layer for edgectl and the cloud, reloads that cannot strand the daemon."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.cli.client import DaemonRefused
from edge.supervisor import Component
from sim.broker import MosquittoBroker
from sim.cloud import CloudEmulator
from tests.brokers import mosquitto  # noqa: F401
from tests.daemon.rig import Rig, book, daemon_rig, until


def listeners(rig: Rig) -> dict[str, int]:
    """Every subscription and listener the daemon holds."""
    counts = rig.stores.subscriptions()
    counts["liveness"] = len(rig.daemon.liveness.allowances)
    return counts


class Crashable:
    """A real component that raises when told to (an injected crash, not a stop)."""

    def __init__(self, inner: Component) -> None:
        self.name = inner.name
        self._inner = inner
        self._crash = asyncio.Event()
        self.running = False

    def crash(self) -> None:
        self._crash.set()

    async def run(self, ready: Callable[[], None]) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._inner.run(ready))
            self.running = True
            await self._crash.wait()
            raise RuntimeError(f"injected crash of {self.name}")


async def test_every_component_crashed_and_reloaded_100_times_leaks_nothing(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """100 crashes and 100 reloads of every component: the same subscriptions after."""
    async with daemon_rig(tmp_path, mosquitto.port) as rig:
        daemon = rig.daemon
        daemon.supervisor.backoff_start_s = daemon.supervisor.backoff_max_s = 0.01
        await until(lambda: rig.stores.link.connected)
        before = listeners(rig)
        names = daemon.supervisor.names
        assert {"journal", "reconciler", "feed", "bus:tcp-1", "automation", "gates", "uplink",
                "control", "alarms", "energy", "counters", "emergency"} <= set(names)  # fmt: skip
        specs = daemon._specs
        for name in names:  # same components, each wrapped so that the test can crash it
            make = specs[name].make
            await daemon.supervisor.replace(name, lambda make=make: Crashable(make()))

        def current() -> dict[str, Crashable | None]:
            out = {}
            for n in names:
                inst = daemon.supervisor.instance(n)
                out[n] = inst if isinstance(inst, Crashable) and inst.running else None
            return out

        await until(lambda: all(current().values()))
        for _ in range(100):
            crashed = current()
            for inst in crashed.values():
                assert inst is not None
                inst.crash()

            def all_back(crashed: dict[str, Crashable | None] = crashed) -> bool:
                now = current()
                return all(now[n] is not None and now[n] is not crashed[n] for n in names)

            await until(all_back, 20)
        health = daemon.supervisor.health()
        assert all(h["restarts"] == 100 for h in health.values()), health
        for i in range(100):
            text = rig.text.replace("keepalive = 5", f"keepalive = {5 + i % 2}")
            text = text.replace("poll_interval = 0.2", f"poll_interval = {0.2 + (i % 2) / 10}")
            rig.write_config(text)
            outcome = await daemon.reload()
            assert outcome.ok, outcome.problems
        await until(lambda: rig.stores.link.connected)
        assert listeners(rig) == before
        health = daemon.supervisor.health()
        assert all(h["ready"] for h in health.values()), health


async def test_events_reach_the_cloud_after_the_uplink_was_stopped(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """With the uplink component stopped: an alarm raise, an access decision and a journaled
    operation all reach the cloud once it runs again (through the outbox)."""
    async with (
        daemon_rig(tmp_path, mosquitto.port) as rig,
        CloudEmulator(mosquitto.host, mosquitto.port, "mf", "gw-1") as cloud,
    ):
        await until(lambda: rig.stores.link.connected)
        await book(rig.stores)
        uplink = rig.daemon._specs["uplink"]
        await rig.daemon.supervisor.stop("uplink")
        assert not rig.stores.link.running
        # An alarm: the lights controller stops answering.
        rig.stores.alarms.report("comm_lost", "lights-a", True, "lights-a: no answer")
        await until(lambda: rig.stores.alarms.get("comm_lost:lights-a") is not None, 10)
        # An access decision: a member scans a pass at the gate.
        rig.scanner.send_line(rig.token())
        await until(lambda: rig.gate.get_coils(0, 1) == [True])
        # A journaled operation: a technician overrides the hall's setpoint.
        await rig.edgectl("write", {"point": "hvac-a.setpoint", "value": 24, "for_s": 600})
        await asyncio.sleep(0.5)
        assert rig.stores.outbox.depth > 0 and not cloud.unique("alarm")
        await rig.daemon.supervisor.start("uplink", uplink.make)

        def arrived() -> bool:
            alarms = cloud.unique("alarm").values()
            events = cloud.unique("event").values()
            return (
                any(a["alarm_id"] == "comm_lost:lights-a" and a["action"] == "raise"
                    for a in alarms)
                and any(e["kind"] == "access_decision" and e["data"]["granted"] for e in events)
                and any(e["kind"] == "operation" and e["data"]["op"] == "set_output"
                        for e in events)
            )  # fmt: skip

        await cloud.wait_for(arrived, within=15)
        ops = [e for e in cloud.unique("event").values() if e["kind"] == "operation"]
        assert ops[0]["data"]["actor_kind"] == "technician" and ops[0]["historical"] is True


async def test_edgectl_and_the_cloud_refuse_alike_and_journal_their_actor(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """The same out-of-range setpoint: the same refusal code from both; both journaled."""
    async with (
        daemon_rig(tmp_path, mosquitto.port) as rig,
        CloudEmulator(mosquitto.host, mosquitto.port, "mf", "gw-1") as cloud,
    ):
        await until(lambda: rig.stores.link.connected)
        with pytest.raises(DaemonRefused) as local:
            await rig.edgectl("write", {"point": "hvac-a.setpoint", "value": 40, "for_s": 300})
        remote = await cloud.command("set_point", {"point": "hvac-a.setpoint", "value": 40})
        assert local.value.code == remote["code"] == "out_of_range"
        # Outside any booking the setpoint is still an output the gateway drives.
        ok = await cloud.command("set_point", {"point": "hvac-a.setpoint", "value": 23})
        assert ok["ok"], ok
        rows = await rig.stores.journal.query(kind="operation", subject="hvac-a.setpoint")
        actors = {(r["actor_kind"], r["body"]["ok"]) for r in rows}
        assert actors == {("technician", False), ("cloud", False), ("cloud", True)}
        cloud_ids = {r["actor"] for r in rows if r["actor_kind"] == "cloud"}
        assert cloud_ids == {remote["cmd_id"], ok["cmd_id"]}


async def test_cloud_reload_that_changes_the_uplink_answers_and_reconnects(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """The reload replaces the session that received it; its cmd_res still arrives and
    the new session connects."""
    async with (
        daemon_rig(tmp_path, mosquitto.port) as rig,
        CloudEmulator(mosquitto.host, mosquitto.port, "mf", "gw-1") as cloud,
    ):
        await until(lambda: rig.stores.link.connected)
        session = rig.stores.link.session
        rig.write_config(rig.text.replace("keepalive = 5", "keepalive = 7"))
        answer = await cloud.command("reload", within=15)
        assert answer["ok"] and answer["result"]["config_version"] == 2, answer
        await until(lambda: rig.stores.link.connected and rig.stores.link.session > session)
        assert rig.daemon.venue.get().config.uplink.keepalive == 7


async def test_a_reload_that_fails_at_start_leaves_everything_running(
    tmp_path: Path,
    mosquitto: MosquittoBroker,  # noqa: F811
) -> None:
    """A new control socket directory that cannot be made: refused, old config in force,
    the control socket and every component still there."""
    async with daemon_rig(tmp_path, mosquitto.port) as rig:
        names = rig.daemon.supervisor.names
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        rig.write_config(rig.text.replace(str(rig.run), str(blocker / "run")))
        with pytest.raises(DaemonRefused) as err:
            await rig.edgectl("reload")
        assert err.value.code == "bad_config" and "control" in str(err.value)
        assert await rig.edgectl("ping") == "pong"
        health = rig.daemon.supervisor.health()
        assert list(health) != [] and sorted(health) == sorted(names)
        assert all(h["ready"] for h in health.values())
        assert rig.daemon.config_version == 1
        assert (await rig.edgectl("status"))["config_version"] == 1
