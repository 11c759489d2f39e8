"""Physical links (one `Bus` each) and the per-device settings on them."""

from __future__ import annotations

from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.framer import FramerType

from .points import DeviceProfile


@dataclass(frozen=True, slots=True)
class TcpLink:
    """Native Modbus TCP. `concurrency` > 1 opens that many connections (devices
    that accept several masters); each carries one transaction at a time."""

    host: str
    port: int = 502
    concurrency: int = 1
    connect_timeout_s: float = 2.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0

    @property
    def serial(self) -> bool:
        return False

    @property
    def label(self) -> str:
        return f"tcp://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class RtuLink:
    """Modbus RTU on a serial port (RS-485 adapter): one transaction at a time.

    `late_reply_guard_s`: after a timeout the bus stays quiet this long, so a slave that
    answers late is not taken for the answer to the next request (RTU frames carry no
    transaction id)."""

    port: str
    baudrate: int = 19200
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    connect_timeout_s: float = 2.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0
    late_reply_guard_s: float = 0.1

    @property
    def serial(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return f"rtu://{self.port}@{self.baudrate}"


@dataclass(frozen=True, slots=True)
class RtuOverTcpLink:
    """A transparent serial gateway: RTU frames over TCP; the serial side is one bus,
    so one transaction at a time and the inter-frame silence of `baudrate`."""

    host: str
    port: int
    baudrate: int = 19200
    connect_timeout_s: float = 2.0
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 1.0
    late_reply_guard_s: float = 0.1

    @property
    def serial(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return f"rtu+tcp://{self.host}:{self.port}"


Link = TcpLink | RtuLink | RtuOverTcpLink


def late_reply_guard_s(link: Link) -> float:
    return 0.0 if isinstance(link, TcpLink) else link.late_reply_guard_s


def silence_s(link: Link) -> float:
    """Inter-frame silence the master keeps on serial links (3.5 chars of 11 bits)."""
    if isinstance(link, TcpLink):
        return 0.0
    return 3.5 * 11 / link.baudrate if link.baudrate <= 19200 else 0.00175


def make_client(link: Link) -> ModbusBaseClient:
    """A pymodbus client with its own reconnect and retries off: the bus owns both."""
    if isinstance(link, TcpLink):
        client: ModbusBaseClient = AsyncModbusTcpClient(
            link.host, port=link.port, timeout=link.connect_timeout_s, retries=0, reconnect_delay=0
        )
    elif isinstance(link, RtuOverTcpLink):
        client = AsyncModbusTcpClient(
            link.host,
            port=link.port,
            framer=FramerType.RTU,
            timeout=link.connect_timeout_s,
            retries=0,
            reconnect_delay=0,
        )
    else:
        client = AsyncModbusSerialClient(
            link.port,
            framer=FramerType.RTU,
            baudrate=link.baudrate,
            parity=link.parity,
            stopbits=link.stopbits,
            bytesize=link.bytesize,
            timeout=link.connect_timeout_s,
            retries=0,
            reconnect_delay=0,
        )
    # pymodbus drops a TCP connection after a few unanswered requests; on a gateway that
    # would cut every healthy unit because of one dead one. The bus decides instead.
    client.set_max_no_responses(2**31)
    client.ctx.count_until_disconnect = 2**31
    return client


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One device on a bus.

    `timeout_s`/`retries` apply per transaction; after a failed cycle the device is
    offline and probed every `probe_min_s`, doubling up to `probe_max_s` (with jitter).
    `heartbeat_s`: unchanged values are re-emitted this often (report by exception).
    `stale_after_s`: a good value not refreshed for this long turns stale
    (default 3 poll intervals, at least 2 s).
    """

    name: str
    unit_id: int
    profile: DeviceProfile
    poll_interval_s: float = 1.0
    timeout_s: float = 0.5
    retries: int = 1
    probe_min_s: float = 2.0
    probe_max_s: float = 30.0
    heartbeat_s: float = 60.0
    stale_after_s: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.unit_id <= 247:
            raise ValueError(f"device {self.name!r}: unit_id {self.unit_id} must be 0..247")
        if self.poll_interval_s < 0 or self.timeout_s <= 0 or self.retries < 0:
            raise ValueError(f"device {self.name!r}: poll/timeout/retries must be positive")
        if self.probe_min_s <= 0 or self.probe_max_s < self.probe_min_s:
            raise ValueError(f"device {self.name!r}: need 0 < probe_min_s <= probe_max_s")

    @property
    def stale_after(self) -> float:
        if self.stale_after_s is not None:
            return self.stale_after_s
        return max(2.0, 3 * self.poll_interval_s)
