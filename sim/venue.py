"""A whole simulated venue built from a venue config file.

    async with SimVenue.from_config("examples/venue.toml", clock) as venue:
        venue.runtime_config_path      # the config edged should run with
        await venue.fault("lamp_failure", "lights-a1", channel=3)
        venue.scan("qr-main", token)    # a QR scanner at the main entrance reads a code
        venue.truth.zone_temp_c("hall-a")

For each Modbus bus of the config the matching server runs on loopback (TCP port,
socat pty pair with every unit of the bus, or RTU over TCP); for each serial reader
a pty; for each GPIO bus a GPIO server on a unix socket (sim/gpio_site.py: relays
drive barrier motors); for each device the behaviour of its profile. The config names real ports and
device paths, so the venue writes a runtime copy with the loopback ports and pty paths
(and a private state directory) substituted: edged runs against it unchanged otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import structlog

from drivers.clock import Clock
from edge.clock import SimClock
from edge.config.errors import ConfigError
from edge.config.load import load, parse
from edge.config.model import (
    GpioBus,
    ModbusRtuBus,
    ModbusRtuTcpBus,
    ModbusTcpBus,
    NetworkBus,
    SerialLineBus,
    VenueConfig,
)
from edge.profiles import profile_points
from sim.broker import MosquittoBroker
from sim.cameras import SimCameras
from sim.devices.base import SimDevice
from sim.devices.fire import FirePanel
from sim.devices.fire_gateway import FireGateway
from sim.devices.gate import GateController
from sim.devices.hvac import FanCoil
from sim.devices.lights import LightingController
from sim.devices.meter import EnergyMeter
from sim.errors import FaultError, SimConfigError, SimError
from sim.faults import FaultRequest, Targets, validate
from sim.gpio_site import GpioSite, serve_gpio_bus
from sim.modbus import SimServer, SimUnit, serve_rtu_over_tcp, serve_rtu_pty, serve_tcp
from sim.params import SimParams, load_params
from sim.passkeys import SimKeys
from sim.readers import ReaderLine
from sim.scale import scale_data
from sim.tomlw import dumps
from sim.truth import Truth
from sim.world import World

log = structlog.get_logger("sim.venue")

RUNTIME_CONFIG_NAME = "venue.runtime.toml"


class GpioBackend(Protocol):
    """The world's side of a GPIO bus's pins (sim.gpio_site.GpioSite), electrical levels."""

    def set_input(self, pin: int, level: bool) -> None: ...
    def level(self, pin: int) -> bool: ...


class BrokerControl(Protocol):
    """What the venue needs of a broker for `broker_stop`/`broker_start` (sync or async)."""

    def stop(self) -> object: ...
    def start(self) -> object: ...


class SimVenue:
    """A running simulated venue (single use: one `async with`). See the module docstring."""

    def __init__(
        self,
        data: dict[str, Any],
        config: VenueConfig,
        clock: Clock,
        *,
        params: SimParams | None = None,
        workdir: Path | None = None,
        broker: BrokerControl | None = None,
        uplink: tuple[str, int] | None = None,
        source: str = "<venue>",
        cameras: int | list[str] = 0,
    ) -> None:
        self.data = data
        """The raw config data (after --scale) the runtime copy is made from."""
        self.config = config
        """The decoded config with the original (not substituted) ports and paths."""
        self.clock = clock
        self.params = params or SimParams()
        self.broker = broker
        self.uplink = uplink
        self.source = source
        self._own_workdir = workdir is None
        self._workdir = workdir
        self.world = World(config, self.params, clock)
        self.keys = SimKeys()
        """This run's cloud keys: the runtime config trusts them (see runtime_data)."""
        self.truth = Truth(self.world)
        self.units: dict[str, SimUnit] = {}
        """Modbus device id -> its unit (fault switches, request counter)."""
        self.servers: dict[str, SimServer] = {}
        """Modbus bus id -> its running server."""
        self.readers: dict[str, ReaderLine] = {}
        """Serial-line bus id -> its reader pty."""
        self.gpio: dict[str, GpioBackend] = {}
        """GPIO bus id -> its pins (the GPIO server's, or a backend given to `attach_gpio`)."""
        self.gpio_sites: dict[str, GpioSite] = {}
        """GPIO bus id -> its served pins, socket and barriers."""
        self.notes: list[str] = []
        """What could not be simulated (GPIO buses...), for the report and the demo."""
        self.fault_log: list[tuple[str, FaultRequest]] = []
        self.cameras: SimCameras | None = None
        """Simulated IP cameras served while the venue runs (`cameras=` N or names)."""
        if cameras:
            names = cameras if isinstance(cameras, list) else None
            count = cameras if isinstance(cameras, int) else 0
            self.cameras = SimCameras(count, names=names, now=clock.now)
        self.runtime_config_path = Path()
        self._stack: contextlib.AsyncExitStack | None = None
        self._bus_of: dict[str, str] = {}
        for d in config.devices:
            self._bus_of[d.id] = d.bus

    @classmethod
    def from_config(
        cls,
        path: str | Path,
        clock: Clock,
        *,
        params: SimParams | str | Path | None = None,
        scale: int = 1,
        workdir: Path | None = None,
        broker: BrokerControl | None = None,
        uplink: tuple[str, int] | None = None,
        cameras: int | list[str] = 0,
    ) -> SimVenue:
        """Read and validate the config with edged's own loader (ConfigError / SimConfigError).

        `uplink` = (host, port) of the broker to put in the runtime copy; `broker` lets the
        `broker_stop`/`broker_start` faults act on it; `cameras` (a count or names) serves
        simulated IP cameras (sim.cameras) with the venue, targets of the `camera_*` faults.
        """
        source = str(path)
        config = load(path, profile_points)  # edged's own checks and messages
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        if scale != 1:
            data = scale_data(data, scale)
            config = parse(dumps(data).encode("utf-8"), f"{source} (x{scale})", profile_points)
        if not isinstance(params, SimParams):
            params = load_params(params)
        return cls(
            data,
            config,
            clock,
            params=params,
            workdir=workdir,
            broker=broker,
            uplink=uplink,
            source=source,
            cameras=cameras,
        )

    # Lifecycle.
    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise SimError("the venue is not running (use `async with`)")
        return self._workdir

    async def __aenter__(self) -> SimVenue:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="edge-sim-"))
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            await stack.enter_async_context(self.world.running())
            await self._start_buses(stack)
            if self.cameras is not None:
                await stack.enter_async_context(self.cameras)
            self.runtime_config_path = self.write_runtime_config()
        except BaseException:
            await stack.aclose()
            self._cleanup_workdir()
            raise
        self._stack = stack
        log.info(
            "venue_started",
            devices=len(self.world.devices),
            buses=len(self.servers),
            readers=len(self.readers),
            runtime_config=str(self.runtime_config_path),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            self._cleanup_workdir()

    def _cleanup_workdir(self) -> None:
        if self._own_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    async def _start_buses(self, stack: contextlib.AsyncExitStack) -> None:
        rtu = self.params.rtu
        for bus in self.config.buses:
            if isinstance(bus, SerialLineBus):
                reader = ReaderLine(bus.id, bus.role, bus.gate, self.workdir / "tty")
                await reader.start()
                stack.push_async_callback(reader.stop)
                self.readers[bus.id] = reader
                continue
            if isinstance(bus, GpioBus):
                site = await stack.enter_async_context(
                    serve_gpio_bus(
                        self.config, bus.id, self.clock, self.workdir / "gpio" / f"{bus.id}.sock"
                    )
                )
                self.gpio_sites[bus.id] = self.gpio[bus.id] = site
                if not _remote_gpio_configurable():
                    self.notes.append(
                        f"bus {bus.id}: GPIO served on {site.socket}, but this config model has"
                        " no remote GPIO backend: edged cannot reach it"
                    )
                continue
            if isinstance(bus, NetworkBus):
                # Cameras and terminals are probed at their configured addresses: the
                # venue's `cameras=` (or a test's own SimCameras) answers there.
                continue
            units = []
            for d in self.config.devices:
                if d.bus != bus.id or d.unit_id is None or d.id not in self.world.devices:
                    continue
                unit = SimUnit(d.unit_id, self.world.devices[d.id].bank)
                self.units[d.id] = unit
                units.append(unit)
            server: SimServer
            if isinstance(bus, ModbusTcpBus):
                server = serve_tcp(units)
            elif isinstance(bus, ModbusRtuBus):
                pty_dir = self.workdir / "tty" / bus.id
                pty_dir.mkdir(parents=True, exist_ok=True)
                server = serve_rtu_pty(
                    units, bus.baudrate, rtu.wire_time, rtu.turnaround_s, pty_dir=pty_dir
                )
            elif isinstance(bus, ModbusRtuTcpBus):
                server = serve_rtu_over_tcp(
                    units,
                    baudrate=bus.baudrate,
                    wire_time=rtu.wire_time,
                    turnaround_s=rtu.turnaround_s,
                )
            else:  # pragma: no cover - the config model has no other kinds
                raise SimConfigError(f"bus {bus.id}", f"cannot simulate {type(bus).__name__}")
            self.servers[bus.id] = await stack.enter_async_context(server)
        for bus in self.config.buses:
            if isinstance(bus, ModbusRtuBus) and bus.parity != "N":
                self.notes.append(
                    f"bus {bus.id}: parity {bus.parity} becomes N in the runtime config "
                    "(a pty has no parity bit; Linux refuses even parity on a pty)"
                )
        for dev_id, why in self.world.unsimulated.items():
            self.notes.append(f"device {dev_id}: {why}")
        pace = self.meter_pace()
        if pace is not None:
            poll, every = pace
            self.notes.append(
                f"energy meters: polled every {poll:g} s and re-reported every {every:g} s"
                " (real time) in the runtime config: at this clock rate the configured"
                " intervals would leave the energy accounting without readings for minutes"
                " of simulated time"
            )

    # The runtime copy of the config.
    def meter_pace(self) -> tuple[float, float] | None:
        """(poll_interval, report_every) real seconds for energy meters at an accelerated clock.

        Buses run on real time (a frame takes real time on the wire), so at 60x a meter
        polled every 10 s would be read every 10 simulated minutes and a quiet one heard
        from every simulated hour. Meters are few: poll them about every 30 simulated
        seconds, within what a 19200 baud line can carry.
        """
        rate = getattr(self.clock, "rate", None)
        if not rate or rate <= 1:
            return None
        return max(0.5, 30.0 / rate), max(1.0, 120.0 / rate)

    def runtime_data(self) -> dict[str, Any]:
        """The config data with the running venue's ports, paths and state directory."""
        import copy

        data = copy.deepcopy(self.data)
        for bus in data.get("buses", []):
            bid = bus["id"]
            if bid in self.servers:
                server = self.servers[bid]
                if bus["kind"] == "modbus_rtu":
                    bus["port"] = server.client_port
                    # A pty carries no parity bit, and Linux refuses PARENB without PARODD
                    # on a pty (EINVAL from tcsetattr): even parity could not even be opened.
                    bus["parity"] = "N"
                else:
                    bus["host"] = server.host
                    bus["port"] = server.port
            elif bid in self.readers:
                bus["port"] = self.readers[bid].path
            elif bid in self.gpio_sites and _remote_gpio_configurable():
                bus["backend"] = "remote"
                bus["socket"] = str(self.gpio_sites[bid].socket)
        pace = self.meter_pace()
        if pace is not None:
            for dev in data.get("devices", []):
                if dev.get("profile") == "energy_meter":
                    dev["poll_interval"], dev["report_every"] = pace
        storage = data.setdefault("storage", {})
        storage["dir"] = str(self.workdir / "state")
        storage["runtime_dir"] = str(self.workdir / "run")
        self._trust_own_keys(data)
        if self.uplink is not None:
            uplink = data.setdefault("uplink", {})
            uplink["host"], uplink["port"] = self.uplink
            # The local broker speaks plain MQTT and knows no site credentials.
            for key in ("tls", "ca_file", "cert_file", "key_file", "tls_insecure", "username",
                        "password_file"):  # fmt: skip
                uplink.pop(key, None)
        return data

    def _trust_own_keys(self, data: dict[str, Any]) -> None:
        """Where the config trusts keys, trust this run's instead (their private halves are
        the simulator's): the demo signs passes, commands and bookings with them."""
        k = self.keys
        access = data.get("access", {})
        if access.get("keys"):
            access["keys"] = [k.entry(k.pass_kid, k.passes)]
        uplink = data.get("uplink", {})
        if uplink.get("command_keys"):
            uplink["command_keys"] = [k.entry(k.command_kid, k.commands)]
        if uplink.get("booking_keys"):
            uplink["booking_keys"] = [k.entry(k.booking_kid, k.bookings)]

    def write_runtime_config(self, path: Path | None = None) -> Path:
        """Write (and validate with edged's loader) the runtime copy; returns its path."""
        path = path or self.workdir / RUNTIME_CONFIG_NAME
        text = dumps(self.runtime_data())
        try:
            parse(text.encode("utf-8"), str(path), profile_points)
        except ConfigError as exc:  # a bug here, not in the user's file: say so
            raise SimConfigError(str(path), f"runtime copy does not validate: {exc}") from exc
        for sub in ("state", "run"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        header = f"# Runtime copy of {self.source} written by edge-sim: loopback ports and ptys.\n"
        path.write_text(header + text, encoding="utf-8")
        return path

    # Where each device answers (for tests with their own Modbus client).
    def endpoint(self, device_id: str) -> dict[str, Any]:
        """`{"kind", "unit_id", "host", "port"}` (TCP kinds) or `{"kind", "unit_id", "path"}`."""
        if device_id not in self.units:
            raise FaultError("device", f"no simulated Modbus device {device_id!r}", self.units)
        bus_id = self._bus_of[device_id]
        server = self.servers[bus_id]
        unit_id = self.units[device_id].unit_id
        if server.kind == "rtu_pty":
            return {"kind": "modbus_rtu", "unit_id": unit_id, "path": server.client_port}
        kind = "modbus_tcp" if server.kind == "tcp" else "modbus_rtu_tcp"
        return {"kind": kind, "unit_id": unit_id, "host": server.host, "port": server.port}

    # Scripted inputs.
    def scan(self, reader: str, payload: str) -> None:
        """A reader reads `payload` (QR token, member id, plate) and sends it with CR LF.

        `reader` is the serial-line bus id, or a gate id when only one reader serves it."""
        self._reader(reader).send_line(payload)

    def send_raw(self, reader: str, data: bytes) -> None:
        """Raw bytes on a reader's line (garbage, truncated lines, wrong encodings)."""
        self._reader(reader).send_bytes(data)

    def _reader(self, name: str) -> ReaderLine:
        if name in self.readers:
            return self.readers[name]
        by_gate = [r for r in self.readers.values() if r.gate == name]
        if len(by_gate) == 1:
            return by_gate[0]
        raise FaultError("reader", f"no reader {name!r}", self.readers)

    def set_occupancy(self, zone: str, people: float | None) -> None:
        """Occupants of a zone (None: back to "occupied while its lights are lit")."""
        if zone not in self.world.topology.air_of:
            raise FaultError("zone", f"unknown zone {zone!r}", self.world.topology.air_of)
        self.world.advance()
        if people is None:
            self.world.occupancy.pop(zone, None)
        else:
            if people < 0:
                raise FaultError("people", f"{people} must be >= 0")
            self.world.occupancy[zone] = people

    # Faults.
    @property
    def targets(self) -> Targets:
        profiles = {
            d.id: d.profile
            for d in self.config.devices
            if d.id in self.world.devices or d.bus in self.gpio
        }
        cameras = frozenset(self.cameras.names) if self.cameras is not None else frozenset()
        return Targets(profiles, frozenset(self.units), frozenset(self.servers), cameras)

    async def fault(self, kind: str, target: str | None = None, **params: Any) -> str:
        """Inject (or clear) a fault; returns what was done. FaultError on a bad request."""
        req = validate(kind, target, params, self.targets)
        done = await self._apply(req)
        self.fault_log.append((self.clock.now().isoformat(), req))
        log.info("fault", kind=req.kind, target=req.target, **req.params)
        return done

    async def _apply(self, req: FaultRequest) -> str:
        k, p = req.kind, req.params
        on = bool(p.get("on", True))
        state = "on" if on else "off"
        if k in ("broker_stop", "broker_start"):
            return await self._broker(k)
        if k == "broker_auth":
            return await self._broker_auth(on)
        if k == "clock_unsynced":
            if not isinstance(self.clock, SimClock):
                raise FaultError(
                    k, "the venue runs on the real clock: its NTP state is the kernel's"
                )
            self.clock.ntp_synced = not on
            return f"clock {'not ' if on else ''}synchronised"
        t = req.target
        assert t is not None  # validate() requires a target for every other kind
        if k in ("offline", "garbage"):
            setattr(self.units[t], k, on)
            return f"{t}: {k} {state}"
        if k == "slow":
            self.units[t].slow_s = p["seconds"]
            return f"{t}: replies delayed {p['seconds']} s"
        if k == "exception":
            self.units[t].exception_code = p["code"] or None
            return f"{t}: exception {p['code'] or 'cleared'}"
        if k == "link_drop":
            server = self.servers[t]
            await (server.drop_link() if on else server.restart())
            return f"bus {t}: link {'dropped' if on else 'restored'}"
        if k == "gpio_input":
            bus, pin = self._gpio_pin(t)
            self.gpio[bus].set_input(pin, on)
            return f"{t}: GPIO {pin} {'high' if on else 'low'}"
        if k == "heal":
            return await self._heal(t)
        if k.startswith("camera_"):
            assert self.cameras is not None  # validate() found the camera
            await self.cameras.set_fault(t, k.removeprefix("camera_"), on)
            return f"camera {t}: {k.removeprefix('camera_')} {state}"
        self.world.mutate(t, lambda d: _mutation(k, p, on)(d))
        if k == "lamp_failure":
            return f"{t}: lamp failure on channel {p['channel']} {state}"
        if k == "stuck_on":
            return f"{t}: channel {p['channel']} stuck on {state}"
        if k.startswith("fire_device_"):
            what = k.removeprefix("fire_device_")
            return f"{t}: loop {p['loop']} device {p['device']} {what} {state}"
        if k == "fire_loop_fault":
            return f"{t}: loop {p['loop']} fault {state}"
        if k.startswith("fire_"):
            return f"{t}: {k.removeprefix('fire_')} {state}"
        if k == "meter_reset":
            return f"{t}: counter reset to 0"
        if k == "meter_rollover":
            return f"{t}: counter {p['before_kwh']} kWh before rollover"
        if k == "hvac_fault":
            return f"{t}: fault code {p['code']}"
        return f"{t}: {k} {state}"

    async def _broker(self, kind: str) -> str:
        if self.broker is None:
            raise FaultError(kind, "no broker is attached to this venue (edge-sim demo has one)")
        fn = self.broker.stop if kind == "broker_stop" else self.broker.start
        if inspect.iscoroutinefunction(fn):
            await fn()
        else:  # mosquitto's start() blocks until it listens
            await asyncio.to_thread(fn)
        return f"broker {'stopped' if kind == 'broker_stop' else 'started'}"

    async def _broker_auth(self, refuse: bool) -> str:
        broker = self.broker
        if not isinstance(broker, MosquittoBroker):
            raise FaultError("broker_auth", "needs a mosquitto broker attached to this venue")
        await asyncio.to_thread(broker.stop)
        broker.refuse_all = refuse
        await asyncio.to_thread(broker.start)
        return f"broker {'refuses' if refuse else 'accepts'} clients"

    # GPIO: every GPIO bus is served (gpio_sites); a test running edged's GPIO in-process
    # with drivers.gpio.SimulatedGpio may hand that backend over instead.
    def attach_gpio(self, bus_id: str, backend: GpioBackend) -> None:
        """Let `gpio_input` faults and `gpio_level()` act on another backend of a GPIO bus."""
        buses = {b.id for b in self.config.buses if isinstance(b, GpioBus)}
        if bus_id not in buses:
            raise FaultError("bus", f"{bus_id!r} is not a GPIO bus", buses)
        self.gpio[bus_id] = backend

    def _gpio_pin(self, device_id: str) -> tuple[str, int]:
        d = next(d for d in self.config.devices if d.id == device_id)
        assert d.pin is not None  # the config loader requires a pin on GPIO buses
        return d.bus, d.pin

    def gpio_level(self, device_id: str) -> bool:
        """The level edged drives on a GPIO relay (or an input's level)."""
        gpio_devices = [d.id for d in self.config.devices if d.bus in self.gpio]
        if device_id not in gpio_devices:
            raise FaultError("device", f"no GPIO device {device_id!r} with a backend", gpio_devices)
        bus, pin = self._gpio_pin(device_id)
        return bool(self.gpio[bus].level(pin))

    async def _heal(self, target: str) -> str:
        devices = list(self.world.devices) if target == "all" else []
        buses = list(self.servers) if target == "all" else []
        if target in self.world.devices:
            devices = [target]
        if target in self.servers:
            buses = [target]
            devices = [d for d in self.units if self._bus_of[d] == target]
        for d in devices:
            if d in self.units:
                self.units[d].heal()
            self.world.mutate(d, _heal_device)
        for b in buses:
            if not self.servers[b].running:
                await self.servers[b].restart()
        if self.cameras is not None:
            for cam in self.cameras.names if target == "all" else [target]:
                if cam in self.cameras.cameras:
                    await self.cameras.heal(cam)
        return f"healed {target}"


def _remote_gpio_configurable() -> bool:
    """Whether edged's config model can name a remote GPIO backend and its socket."""
    return "socket" in GpioBus.__struct_fields__


def _mutation(kind: str, p: dict[str, Any], on: bool) -> Callable[[SimDevice], object]:
    """The change a behaviour fault makes to its device (the target's type was validated)."""

    def change(dev: SimDevice) -> object:
        if kind == "lamp_failure" and isinstance(dev, LightingController):
            dev.set_lamp_failure(p["channel"], on)
        elif kind == "stuck_on" and isinstance(dev, LightingController):
            dev.set_stuck_on(p["channel"], on)
        elif kind == "door_forced" and isinstance(dev, GateController):
            dev.forced_fault = on
        elif kind == "door_held" and isinstance(dev, GateController):
            dev.held_fault = on
        elif kind.startswith("fire_device_") and isinstance(dev, FireGateway):
            dev.set_device(p["loop"], p["device"], kind.removeprefix("fire_device_"), on)
        elif kind == "fire_loop_fault" and isinstance(dev, FireGateway):
            dev.set_loop_fault(p["loop"], on)
        elif kind.startswith("fire_") and isinstance(dev, FireGateway):
            dev.set_panel(kind.removeprefix("fire_"), on)
        elif kind.startswith("fire_") and isinstance(dev, FirePanel):
            dev.set(kind.removeprefix("fire_"), on)
        elif kind == "meter_reset" and isinstance(dev, EnergyMeter):
            dev.reset()
        elif kind == "meter_rollover" and isinstance(dev, EnergyMeter):
            dev.preset_before_rollover(p["before_kwh"])
        elif kind == "hvac_fault" and isinstance(dev, FanCoil):
            dev.fault_code = p["code"]
        else:  # pragma: no cover - validate() matched kind and profile
            raise FaultError("target", f"{dev.id} cannot take {kind}")
        return None

    return change


def _heal_device(dev: SimDevice) -> None:
    if isinstance(dev, LightingController):
        dev.failed.clear()
        dev.stuck.clear()
    elif isinstance(dev, GateController):
        dev.forced_fault = dev.held_fault = False
    elif isinstance(dev, FirePanel):
        for name in dev.state:
            dev.state[name] = False
    elif isinstance(dev, FireGateway):
        dev.heal()
    elif isinstance(dev, FanCoil):
        dev.fault_code = 0
