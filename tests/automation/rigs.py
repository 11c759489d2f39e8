"""A small venue on simulated TCP devices with the real bus, reconciler and emergency path."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from drivers.modbus.bus import Bus
from drivers.modbus.links import DeviceConfig, TcpLink
from drivers.modbus.profiles import load_profile
from edge.automation.emergency import EmergencyState, EmergencyWatcher, panel_in_alarm, reset
from edge.automation.reconciler import Reconciler
from edge.clock import SystemClock
from edge.field.points import PointTable
from edge.storage import Database
from rules.model import AlarmInput, EmergencyPolicy, GateSpec, LightSpec, Site, ZoneSpec
from sim.modbus import RegisterBank, SimUnit, serve_tcp

LIGHT_CONTROLLERS = 3
CHANNELS = 8
GATES = 2


@dataclass
class EmergencyRig:
    panel: RegisterBank
    lights: list[RegisterBank]
    gates: list[RegisterBank]
    points: PointTable
    reconciler: Reconciler
    state: EmergencyState
    site: Site
    light_outputs: list[str]
    gate_outputs: list[str]

    @property
    def active(self) -> bool:
        return self.state.active

    def panel_in_alarm(self) -> bool:
        return panel_in_alarm(self.site.emergency.alarms, self.points)

    def reset(self, by: str) -> None:
        reset(self.state, self.site.emergency.alarms, self.points, by)

    def all_commanded(self) -> bool:
        return all(b.get_coils(0, CHANNELS) == [True] * CHANNELS for b in self.lights) and all(
            g.get_coils(0, 1) == [True] for g in self.gates
        )

    def all_released(self) -> bool:
        return all(b.get_coils(0, CHANNELS) == [False] * CHANNELS for b in self.lights) and all(
            g.get_coils(0, 1) == [False] for g in self.gates
        )


async def until(cond: Callable[[], bool], timeout_s: float = 15.0, step_s: float = 0.001) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step_s)


@asynccontextmanager
async def emergency_rig(panel_poll_s: float = 0.1) -> AsyncIterator[EmergencyRig]:
    panel = RegisterBank()
    lights = [RegisterBank() for _ in range(LIGHT_CONTROLLERS)]
    gates = [RegisterBank() for _ in range(GATES)]
    units = [SimUnit(1, panel)]
    units += [SimUnit(10 + i, b) for i, b in enumerate(lights)]
    units += [SimUnit(20 + i, g) for i, g in enumerate(gates)]
    devices = [DeviceConfig("panel", 1, load_profile("fire_panel"), poll_interval_s=panel_poll_s)]
    devices += [
        DeviceConfig(f"lights-{i}", 10 + i, load_profile("lighting_8ch"), poll_interval_s=1.0)
        for i in range(LIGHT_CONTROLLERS)
    ]
    devices += [
        DeviceConfig(f"gate-{i}", 20 + i, load_profile("gate_controller"), poll_interval_s=1.0)
        for i in range(GATES)
    ]
    light_outputs = [
        f"lights-{i}.ch{c + 1}_on" for i in range(LIGHT_CONTROLLERS) for c in range(CHANNELS)
    ]
    gate_outputs = [f"gate-{i}.relay" for i in range(GATES)]
    site = Site(
        timezone="Asia/Shanghai",
        zones=(
            ZoneSpec(
                id="hall-a", kind="hall", lights=tuple(LightSpec(output=o) for o in light_outputs)
            ),
        ),
        emergency=EmergencyPolicy(
            alarms=(AlarmInput(point="panel.alarm"),),
            egress_gates=tuple(GateSpec(output=g) for g in gate_outputs),
        ),
    )
    clock = SystemClock()
    points = PointTable()
    state_dir = tempfile.TemporaryDirectory(prefix="emergency-rig-")
    db = Database.open(Path(state_dir.name) / "edged.db")
    async with AsyncExitStack() as stack:
        stack.callback(state_dir.cleanup)
        stack.callback(db.close)
        server = await stack.enter_async_context(serve_tcp(units))
        # Two connections: the panel's polls never queue behind the output writes.
        link = TcpLink("127.0.0.1", server.port, concurrency=2)
        bus = await stack.enter_async_context(
            Bus(link, devices, clock=clock, on_event=points.publish)
        )
        reconciler = Reconciler(clock, points, bus.write)
        state = await EmergencyState.open(db, clock)
        watcher = EmergencyWatcher(site, points, reconciler, state)
        tasks = [
            asyncio.create_task(reconciler.run(lambda: None)),
            asyncio.create_task(watcher.run(lambda: None)),
        ]
        try:
            yield EmergencyRig(
                panel, lights, gates, points, reconciler, state, site, light_outputs, gate_outputs
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
