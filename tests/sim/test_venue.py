"""A venue built from a config file, read over the wire by real Modbus masters (pymodbus, mbpoll).

Blocking file checks go through small sync helpers: they are instant on tmpfs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tomllib
from pathlib import Path

import pytest
import serial  # type: ignore[import-untyped]
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerType

from drivers.modbus.codec import decode_point
from edge.clock import SimClock
from edge.config.errors import ConfigError
from edge.config.load import load
from edge.config.model import ModbusRtuBus, ModbusRtuTcpBus, ModbusTcpBus, SerialLineBus
from edge.profiles import profile_points
from sim.errors import FaultError, SimConfigError
from sim.venue import SimVenue

from .conftest import MINIMAL


def resolved(path: str) -> str:
    return os.path.realpath(path)


def is_dir(path: str) -> bool:
    return Path(path).is_dir()


def exists(path: Path) -> bool:
    return path.exists()


def read_toml(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text())


def tcp_client(ep: dict[str, object], rtu: bool = False) -> AsyncModbusTcpClient:
    framer = FramerType.RTU if rtu else FramerType.SOCKET
    return AsyncModbusTcpClient(
        str(ep["host"]),
        port=int(ep["port"]),
        framer=framer,
        timeout=0.5,
        retries=0,  # type: ignore[call-overload]
    )


async def read_point(client: object, venue: SimVenue, device: str, name: str) -> object:
    """Read one point the way the driver would: its table, address and count, then decode."""
    dev = venue.world.devices[device]
    p = dev.point(name)
    unit = venue.units[device].unit_id
    fn = {
        "coil": "read_coils",
        "discrete": "read_discrete_inputs",
        "holding": "read_holding_registers",
        "input": "read_input_registers",
    }[p.table.value]
    rr = await getattr(client, fn)(p.address, count=p.register_count, device_id=unit)
    assert not rr.isError(), rr
    data = rr.bits[: p.register_count] if p.table.is_bits else rr.registers
    return decode_point(p, data)


async def test_each_bus_kind_serves_its_devices_registers(mixed_venue: SimVenue) -> None:
    """RTU on a pty (two units), RTU over TCP and TCP all answer with the profiles' points."""
    v = mixed_venue
    rtu = v.endpoint("lights-r")
    assert rtu["kind"] == "modbus_rtu" and v.endpoint("fcu-r")["path"] == rtu["path"]
    serial_client = AsyncModbusSerialClient(
        str(rtu["path"]), framer=FramerType.RTU, baudrate=115200, timeout=1, retries=0
    )
    assert await serial_client.connect()
    try:
        await serial_client.write_coil(0, True, device_id=7)
        assert await read_point(serial_client, v, "lights-r", "ch1_lamp") is True
        assert await read_point(serial_client, v, "lights-r", "ch1_current") == 1.74
        assert await read_point(serial_client, v, "fcu-r", "setpoint") == 26.0
        assert await read_point(serial_client, v, "fcu-r", "mode") == "auto"
        temp = await read_point(serial_client, v, "fcu-r", "room_temp")
        assert temp == pytest.approx(v.truth.zone_temp_c("room"), abs=0.051)
    finally:
        serial_client.close()

    await v.fault("fire_alarm", "fire")
    gw = v.endpoint("fire")
    assert gw["kind"] == "modbus_rtu_tcp"
    client = tcp_client(gw, rtu=True)
    await client.connect()
    try:
        assert await read_point(client, v, "fire", "alarm") is True
        assert await read_point(client, v, "fire", "fault") is False
    finally:
        client.close()

    client = tcp_client(v.endpoint("gate"))
    await client.connect()
    try:
        await client.write_coil(0, True, device_id=3)
        assert await read_point(client, v, "gate", "door_open") is True
        assert await read_point(client, v, "gate", "pulse_s") == 3.0
        assert len(v.truth.pulses("gate")) == 1
        # The meter's override (scale 0.01) is what the simulated register uses.
        await v.fault("meter_rollover", "meter", before_kwh=0.05)
        assert await read_point(client, v, "meter", "import_kwh") == pytest.approx(42949672.91)
    finally:
        client.close()


async def test_runtime_config_substitutes_only_ports_paths_and_state(
    mixed_venue: SimVenue, mixed_path: Path
) -> None:
    """The runtime copy validates with edged's loader, names the live endpoints, keeps the rest."""
    v = mixed_venue
    cfg = load(v.runtime_config_path, profile_points)
    buses = {b.id: b for b in cfg.buses}
    tcp, gw, rtu, qr = buses["tcp"], buses["gw"], buses["rtu"], buses["qr"]
    assert isinstance(tcp, ModbusTcpBus) and tcp.port == v.servers["tcp"].port
    assert tcp.host == "127.0.0.1"
    assert isinstance(gw, ModbusRtuTcpBus) and gw.port == v.servers["gw"].port
    assert isinstance(rtu, ModbusRtuBus) and rtu.port == v.servers["rtu"].client_port
    assert rtu.baudrate == 115200 and rtu.parity == "N"  # a pty refuses even parity
    assert isinstance(qr, SerialLineBus) and resolved(qr.port).startswith("/dev/pts/")
    assert is_dir(cfg.storage.dir) and Path(cfg.storage.dir).is_relative_to(v.workdir)
    original = read_toml(mixed_path)
    runtime = read_toml(v.runtime_config_path)
    for data in (original, runtime):
        data.pop("storage", None)
        for b in data["buses"]:
            b.pop("host", None)
            b.pop("port", None)
            b.pop("parity", None)
    assert runtime == original


async def test_uplink_is_substituted_when_a_broker_is_given(
    mixed_path: Path, clock: SimClock
) -> None:
    """With uplink=(host, port) the runtime copy points edged at that broker."""
    async with SimVenue.from_config(mixed_path, clock, uplink=("127.0.0.1", 18830)) as v:
        cfg = load(v.runtime_config_path, profile_points)
    assert (cfg.uplink.host, cfg.uplink.port) == ("127.0.0.1", 18830)


async def test_reader_line_delivers_scans_like_a_scanner(mixed_venue: SimVenue) -> None:
    """A scan arrives on the reader's tty as payload + CR LF; by bus id or by gate id."""
    path = mixed_venue.readers["qr"].path
    port = serial.Serial(path, 9600, timeout=2)
    try:
        mixed_venue.scan("qr", "TOKEN-123")
        mixed_venue.scan("door", "M-1001")
        mixed_venue.send_raw("qr", b"\xff\xfe\r\n")
        data = await asyncio.to_thread(port.read, 9 + 2 + 6 + 2 + 4)
        assert data == b"TOKEN-123\r\nM-1001\r\n\xff\xfe\r\n"
    finally:
        port.close()
    with pytest.raises(FaultError, match="no reader"):
        mixed_venue.scan("nope", "x")


async def test_offline_and_link_drop_are_seen_by_a_master(mixed_venue: SimVenue) -> None:
    """Offline: no reply for that unit only; link drop: no connection; both recover."""
    v = mixed_venue
    client = tcp_client(v.endpoint("gate"))
    await client.connect()
    try:
        await v.fault("offline", "gate")
        with pytest.raises(ModbusIOException):
            await client.read_coils(0, count=1, device_id=3)
        rr = await client.read_input_registers(0, count=2, device_id=4)
        assert not rr.isError()  # the other unit on the bus still answers
        await v.fault("offline", "gate", on=False)
        assert not (await client.read_coils(0, count=1, device_id=3)).isError()
    finally:
        client.close()
    await v.fault("link_drop", "tcp")
    dead = tcp_client(v.endpoint("gate"))
    assert not await dead.connect()
    dead.close()
    await v.fault("heal", "tcp")
    client = tcp_client(v.endpoint("gate"))
    assert await client.connect()
    assert not (await client.read_coils(0, count=1, device_id=3)).isError()
    client.close()


async def test_lamp_failure_over_the_wire(mixed_venue: SimVenue) -> None:
    """Injected lamp failure: a master sees coil on, feedback off, 0 A on that channel."""
    v = mixed_venue
    await v.fault("lamp_failure", "lights-r", channel=1)
    ep = v.endpoint("lights-r")
    c = AsyncModbusSerialClient(
        str(ep["path"]), framer=FramerType.RTU, baudrate=115200, timeout=1, retries=0
    )
    assert await c.connect()
    try:
        await c.write_coils(0, [True, True], device_id=7)
        assert (await c.read_coils(0, count=2, device_id=7)).bits[:2] == [True, True]
        assert (await c.read_discrete_inputs(0, count=2, device_id=7)).bits[:2] == [False, True]
        assert (await c.read_input_registers(200, count=2, device_id=7)).registers == [0, 174]
    finally:
        c.close()
    with pytest.raises(FaultError, match="channel"):
        await v.fault("lamp_failure", "lights-r", channel=9)


@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")
async def test_mbpoll_reads_a_simulated_device(mixed_venue: SimVenue) -> None:
    """mbpoll (a Modbus master nobody here wrote) reads the gate and meter registers right."""
    v = mixed_venue
    await v.fault("meter_rollover", "meter", before_kwh=1.0)
    ep = v.endpoint("meter")

    async def mbpoll(*args: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            "mbpoll",
            "-m",
            "tcp",
            "-p",
            str(ep["port"]),
            "-0",
            "-1",
            "-o",
            "1",
            *args,
            "127.0.0.1",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, out.decode()
        return out.decode()

    out = await mbpoll("-a", "3", "-t", "4", "-r", "10", "-c", "1")
    assert "[10]: \t30" in out  # pulse_s 3.0 s in 0.1 s units
    out = await mbpoll("-a", "4", "-t", "3:hex", "-r", "0", "-c", "2")
    # 2**32 - 100 counts of 0.01 kWh, high word first.
    assert "[0]: \t0xFFFF" in out and "[1]: \t0xFF9C" in out


async def test_scale_multiplies_the_venue(clock: SimClock) -> None:
    """--scale 3: three independent copies with their own buses, all ids unique, still valid."""
    async with SimVenue.from_config(MINIMAL, clock, scale=3) as v:
        assert len(v.world.devices) == 18
        assert len(v.servers) == 3 and len(v.readers) == 3
        cfg = load(v.runtime_config_path, profile_points)
        assert len({d.id for d in cfg.devices}) == 18
        assert {g.device for g in cfg.access.gates} == {"gate-1", "gate-1-x2", "gate-1-x3"}
        assert len({s.port for s in v.servers.values()}) == 3


async def test_teardown_closes_ports_ptys_and_the_workdir(
    mixed_path: Path, clock: SimClock
) -> None:
    """After the block: TCP ports refuse, pty symlinks and the work directory are gone."""
    async with SimVenue.from_config(mixed_path, clock) as v:
        port = v.servers["tcp"].port
        rtu_path = Path(v.servers["rtu"].client_port)
        workdir = v.workdir
        assert exists(rtu_path)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    assert not exists(rtu_path)
    assert not exists(workdir)


def test_bad_config_and_params_are_refused_clearly(tmp_path: Path, clock: SimClock) -> None:
    """A missing config, an unknown profile and a bad params file each name the problem."""
    with pytest.raises(ConfigError, match="file not found"):
        SimVenue.from_config(tmp_path / "nope.toml", clock)
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.read_text().replace('"env_sensor"', '"env_sensr"'))
    with pytest.raises(ConfigError, match="unknown profile 'env_sensr'"):
        SimVenue.from_config(bad, clock)
    params = tmp_path / "p.toml"
    params.write_text("[hvac]\nrated_w = -5\n")
    with pytest.raises(SimConfigError, match="rated_w"):
        SimVenue.from_config(MINIMAL, clock, params=params)
    params.write_text("tick = 1\n")
    with pytest.raises(SimConfigError, match="tick"):
        SimVenue.from_config(MINIMAL, clock, params=params)


GPIO_VENUE = """
[site]
id = "gpio"
gateway = "gw"

[[buses]]
kind = "gpio"
id = "pins"
backend = "simulated"

[[devices]]
id = "fire-in"
profile = "gpio_input"
bus = "pins"
pin = 17

[[devices]]
id = "door-relay"
profile = "gpio_relay"
bus = "pins"
pin = 18
"""


async def test_gpio_pins_are_driven_through_an_attached_backend(
    tmp_path: Path, clock: SimClock
) -> None:
    """In-process, a backend handed over with attach_gpio replaces the served pins: the fire
    input pin follows `gpio_input` and the relay's level is readable."""
    from drivers.gpio.lines import Direction, LineConfig
    from drivers.gpio.simulated import SimulatedGpio

    class Quiet:
        def line_changed(self, line: int, value: bool) -> None:
            pass

        def link_changed(self, up: bool, reason: str) -> None:
            pass

    path = tmp_path / "gpio.toml"
    path.write_text(GPIO_VENUE)
    async with SimVenue.from_config(path, clock) as v:
        with pytest.raises(FaultError, match="is not a GPIO bus"):
            v.attach_gpio("nope", SimulatedGpio())
        gpio = SimulatedGpio()
        lines = [LineConfig(17, Direction.INPUT, pull="down"), LineConfig(18, Direction.OUTPUT)]
        await gpio.open(lines, Quiet())
        v.attach_gpio("pins", gpio)
        await v.fault("gpio_input", "fire-in")
        assert await gpio.get(17) is True
        await gpio.set(18, True)  # what edged's relay driver does
        assert v.gpio_level("door-relay") is True


async def test_broker_stop_and_start(mixed_path: Path, clock: SimClock) -> None:
    """broker_stop closes the broker's port; broker_start brings it back on the same port."""
    from sim.broker import MosquittoBroker, mosquitto_installed

    if not mosquitto_installed():
        pytest.skip("mosquitto not installed")
    broker = MosquittoBroker()
    broker.start()
    try:
        async with SimVenue.from_config(mixed_path, clock, broker=broker) as v:
            assert await v.fault("broker_stop") == "broker stopped"
            with pytest.raises(OSError):
                socket.create_connection((broker.host, broker.port), timeout=0.5).close()
            await v.fault("broker_start")
            socket.create_connection((broker.host, broker.port), timeout=2).close()
    finally:
        broker.close()


async def test_broker_faults_without_a_broker_say_so(mixed_venue: SimVenue) -> None:
    """A venue started without a broker refuses broker faults with the reason."""
    with pytest.raises(FaultError, match="no broker is attached"):
        await mixed_venue.fault("broker_stop")
