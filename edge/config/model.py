"""The venue config as frozen typed structs, decoded once from TOML.

Point references are `"device.point"`; device ids, zone ids and bus ids are unique.
Nothing edits a config after it is decoded: a reload builds a new one.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from edge.config.alarms import AlarmsConfig
from edge.config.energy import EnergyConfig

Id = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
PointRef = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_:-]*\.[A-Za-z0-9_]+$")]
Port = Annotated[int, Meta(ge=1, le=65535)]
UnitId = Annotated[int, Meta(ge=1, le=247)]
Seconds = Annotated[float, Meta(gt=0, le=3600)]
Minutes = Annotated[float, Meta(ge=0, le=1440)]
Celsius = Annotated[float, Meta(ge=5, le=35)]


class Site(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    """Site id used in MQTT topics, e.g. `wcp-main`."""
    gateway: Id
    """This gateway's id within the site."""
    name: str = ""
    timezone: str = "UTC"
    """IANA zone name, e.g. `Asia/Shanghai`; schedules are in local time."""
    on_shutdown: Literal["hold", "safe"] = "hold"
    """`hold`: outputs stay as they are when the daemon stops; `safe`: lights off, gates closed."""


class Storage(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    dir: str = "/var/lib/edged"
    """State directory: the SQLite database lives here."""
    runtime_dir: str = "/run/edged"
    """Runtime directory: the `edgectl` socket lives here."""


class Location(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    building: str = ""
    floor: int = 0
    room: str = ""
    x: float = 0.0
    y: float = 0.0


ZoneKind = Literal[
    "court", "hall", "room", "reading_room", "exhibition", "training", "lobby", "gate", "car_park"
]


class Zone(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    kind: ZoneKind
    name: str = ""
    parent: Id | None = None
    """The enclosing zone (a court's hall): shared equipment follows the union of its zones."""
    target_temp_c: Celsius | None = None
    lights: list[PointRef] = field(default_factory=list)
    """Light outputs that serve this zone."""
    hvac: list[Id] = field(default_factory=list)
    """HVAC devices that serve this zone (setpoint and on/off points come from the profile)."""
    sensors: list[Id] = field(default_factory=list)


class ModbusTcpBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_tcp",
    tag_field="kind",
):
    id: Id
    host: str
    port: Port = 502
    timeout: Seconds = 1.0
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    concurrency: Annotated[int, Meta(ge=1, le=16)] = 1


class ModbusRtuBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_rtu",
    tag_field="kind",
):
    id: Id
    port: str
    """Serial device, e.g. `/dev/ttyUSB0`."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout: Seconds = 0.5
    retries: Annotated[int, Meta(ge=0, le=10)] = 2


class ModbusRtuTcpBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_rtu_tcp",
    tag_field="kind",
):
    id: Id
    host: str
    port: Port = 4001
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    """The serial side's baud rate, for the inter-frame silence."""
    timeout: Seconds = 1.0
    retries: Annotated[int, Meta(ge=0, le=10)] = 2


class SerialLineBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="serial_line",
    tag_field="kind",
):
    id: Id
    port: str
    role: Literal["qr_scanner", "face_terminal", "card_reader", "plate_camera"]
    gate: Id
    """The gate this reader admits to."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    max_line: Annotated[int, Meta(ge=16, le=4096)] = 512


class TcpLineBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="tcp_line",
    tag_field="kind",
):
    """A credential reader on Ethernet that sends one line per scan (face terminal, QR reader)."""

    id: Id
    role: Literal["qr_scanner", "face_terminal", "card_reader", "plate_camera"]
    gate: Id
    """The gate this reader admits to."""
    port: Port
    host: str = "127.0.0.1"
    """`client`: the reader's address; `server`: the address edged listens on."""
    mode: Literal["client", "server"] = "client"
    """`client`: edged connects to the reader (and reconnects); `server`: the reader connects."""
    max_line: Annotated[int, Meta(ge=16, le=4096)] = 512
    idle_timeout_s: Annotated[float, Meta(gt=0, le=86400)] | None = None
    """Drop a connection silent this long (a reader that hangs without closing)."""
    max_connections: Annotated[int, Meta(ge=1, le=64)] = 4
    """`server`: readers connected at once."""


class GpioBus(
    Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="gpio", tag_field="kind"
):
    """The gateway's own pins: relays (`gpio_relay`) and contact inputs (`gpio_input`)."""

    id: Id
    backend: Literal["gpiod", "rpi", "remote", "simulated"] = "gpiod"
    """`gpiod` (libgpiod 2: every Pi including the 5, any Linux board), `rpi` (RPi.GPIO or
    rpi-lgpio), `remote` (pins served by another process: the simulator), `simulated`."""
    chip: str = "/dev/gpiochip0"
    """gpiod: the GPIO character device (`gpiodetect` lists them)."""
    socket: str | None = None
    """remote: the GPIO server's unix socket."""
    poll_interval: Annotated[float, Meta(ge=0.01, le=3600)] = 1.0
    """Lines are re-read this often (edges are pushed as they happen)."""


class NetworkBus(
    Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="network", tag_field="kind"
):
    """Cameras, NVRs and terminals on Ethernet, watched by a probe (no raw sockets)."""

    id: Id
    interval_s: Annotated[float, Meta(ge=1, le=3600)] = 10.0
    """Each device is probed this often."""
    timeout_s: Annotated[float, Meta(ge=0.1, le=60)] = 2.0
    """A probe without a complete answer in this time failed."""
    fail_after: Annotated[int, Meta(ge=1, le=100)] = 3
    """Consecutive failed probes before a device is offline (one success: online)."""
    max_concurrent: Annotated[int, Meta(ge=1, le=256)] = 32


Bus = (
    ModbusTcpBus | ModbusRtuBus | ModbusRtuTcpBus | SerialLineBus | TcpLineBus | GpioBus
    | NetworkBus
)  # fmt: skip


class Device(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    profile: str
    """A profile shipped in `drivers/profiles/` (e.g. `lighting_8ch`)."""
    bus: Id
    unit_id: UnitId | None = None
    """Modbus unit id 1..247 (Modbus buses only)."""
    pin: Annotated[int, Meta(ge=0, le=63)] | None = None
    """GPIO pin (BCM numbering; GPIO buses only)."""
    zone: Id | None = None
    name: str = ""
    location: Location = field(default_factory=Location)
    poll_interval: Annotated[float, Meta(ge=0.05, le=3600)] = 1.0
    report_every: Annotated[float, Meta(ge=0.05, le=86400)] = 60.0
    """An unchanged value is reported again this often (seconds): how soon the energy
    accounting and the cloud hear that a quiet meter is still quiet."""
    points: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per-point overrides of the profile, e.g. `{ch1_on = { address = 17 }}`; `roles` too,
    e.g. a GPIO relay that switches a light: `{relay = { roles = ["lighting.switch"] }}`."""
    active_low: bool | None = None
    """GPIO: logical on is a low pin (default: relays no, inputs yes)."""
    pull: Literal["up", "down", "off"] | None = None
    """GPIO inputs: the pin's bias (default: up when active_low)."""
    debounce: Annotated[float, Meta(ge=0, le=10)] | None = None
    """GPIO inputs: seconds a level must hold before it counts (default 0.05)."""
    host: str | None = None
    """Network devices: host name or address to probe."""
    probe: Literal["tcp", "rtsp", "http", "onvif"] | None = None
    """Network devices: how to probe (default rtsp for cameras and NVRs, http otherwise)."""
    port: Port | None = None
    """Network devices: port to probe (default by probe: rtsp 554, http and onvif 80)."""
    path: str | None = None
    """Network devices: HTTP or ONVIF path."""


class AccessKey(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kid: Id
    public_key: str
    """Ed25519 public key, base64 (32 bytes)."""
    not_after: str | None = None


class Gate(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    device: Id
    """The gate controller (Modbus) or GPIO relay device that opens it."""
    zones: list[Id] = field(default_factory=list)
    egress: bool = False
    """On the egress path: opened and held open in a fire emergency."""
    direction: Literal["in", "out"] = "in"
    """`in`: entries are counted and anti-passback applies; `out`: only genuineness is checked."""
    pulse_s: Annotated[float, Meta(ge=0.5, le=60)] = 3.0
    """How long the gate's relay is held on per opening (the controller's pulse register,
    or timed by edged for a plain relay)."""


class Access(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    keys: list[AccessKey] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)
    early_entry_min: Minutes = 15.0
    late_grace_min: Minutes = 15.0
    passback_window_min: Minutes = 10.0
    reader_rate_per_s: Annotated[float, Meta(gt=0, le=1000)] = 2.0
    """Distinct scans per second a reader may sustain; more are refused as rate_limited."""
    reader_burst: Annotated[int, Meta(ge=1, le=1000)] = 5
    """Distinct scans a reader may send at once after being quiet."""
    """A pass that entered cannot enter again at an entry gate within this time without exiting."""


OUTBOX_MAX_MESSAGES = 200_000
OUTBOX_MAX_BYTES = 256 * 1024 * 1024
OUTBOX_MAX_AGE_H = 24 * 7.0
OUTBOX_INFLIGHT = 20


class Uplink(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the gateway reaches the cloud broker (the one declaration of `[uplink]`).

    Topic ids come from `[site]` id and gateway."""

    host: str = "127.0.0.1"
    """Broker host name or address."""
    port: Port = 1883
    """Broker port (8883 is the usual TLS port)."""
    protocol: Literal[5, 311] = 5
    """MQTT protocol version: 5 (default) or 311 (3.1.1)."""
    keepalive: Annotated[int, Meta(ge=5, le=3600)] = 30
    """Seconds; the broker publishes the gateway's Will after about 1.5 x this of silence."""
    client_id: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    """MQTT client id; default `edge-{site}-{gateway}`."""
    username: str | None = None
    password_file: str | None = None
    """File holding the MQTT password (kept out of the config file)."""
    tls: bool = False
    """Use TLS; on by itself when `ca_file` or `cert_file` is set (no `ca_file`: the
    system's CA store verifies the broker)."""
    ca_file: str | None = None
    """CA bundle that signs the broker's certificate."""
    cert_file: str | None = None
    """Client certificate (PEM), for brokers that authenticate clients by certificate."""
    key_file: str | None = None
    """Private key of `cert_file` (PEM)."""
    tls_insecure: bool = False
    """Skip the broker's host name check (lab use only)."""
    outbox_max_messages: Annotated[int, Meta(ge=100, le=10_000_000)] = OUTBOX_MAX_MESSAGES
    """Most messages kept while the link is down; beyond it `state`, then plain events go."""
    outbox_max_bytes: Annotated[int, Meta(ge=1024 * 1024)] = OUTBOX_MAX_BYTES
    """Most payload bytes kept while the link is down."""
    outbox_max_age_h: Annotated[float, Meta(gt=0, le=24 * 90)] = OUTBOX_MAX_AGE_H
    """Evictable messages older than this are dropped (alarms, access, energy never)."""
    inflight: Annotated[int, Meta(ge=1, le=1000)] = OUTBOX_INFLIGHT
    """Publishes awaiting PUBACK at once."""
    backoff_initial_s: Annotated[float, Meta(gt=0, le=3600)] = 1.0
    """First wait between reconnect attempts; doubles up to `backoff_cap_s`, with jitter."""
    backoff_cap_s: Annotated[float, Meta(gt=0, le=3600)] = 60.0
    """Longest wait between reconnect attempts."""
    connect_timeout_s: Annotated[float, Meta(gt=0, le=600)] = 10.0
    """How long to wait for CONNACK."""
    auth_retry_s: Annotated[float, Meta(gt=0, le=86400)] = 300.0
    """Wait after the broker refused the gateway's credentials."""
    max_payload: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    """Largest inbound command payload accepted, in bytes."""
    command_keys: list[AccessKey] = field(default_factory=list)
    """Keys that sign cloud commands; when set, unsigned commands are refused."""
    state_window_ms: Annotated[int, Meta(ge=0, le=1000)] = 2
    """Point changes read within this many ms of the first go up as one `state` message
    (a block read's points together); 0 = those of the same event-loop turn."""
    state_refresh_s: Annotated[float, Meta(ge=0, le=7 * 86400)] = 900.0
    """Every this many seconds every point's latest value goes up again in `state` messages
    flagged `heartbeat: true`; unchanged values are otherwise not re-sent. 0 = never."""

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.ca_file is not None or self.cert_file is not None

    def read_password(self) -> str | None:
        """The password from `password_file`, stripped of the trailing newline."""
        if self.password_file is None:
            return None
        with open(self.password_file, encoding="utf-8") as fh:
            return fh.read().rstrip("\r\n")


class Guardrails(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    setpoint_min_c: Celsius = 16.0
    setpoint_max_c: Celsius = 30.0
    cloud_override_min: Annotated[float, Meta(gt=0, le=7 * 1440)] = 120.0
    """How long a cloud `set_point` or `scene` holds before the schedule takes over again."""


class VenueConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    site: Site
    storage: Storage = field(default_factory=Storage)
    zones: list[Zone] = field(default_factory=list)
    buses: list[Bus] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    uplink: Uplink = field(default_factory=Uplink)
    access: Access = field(default_factory=Access)
    guardrails: Guardrails = field(default_factory=Guardrails)
    alarms: AlarmsConfig = field(default_factory=AlarmsConfig)
    """Alarm thresholds and per-class overrides (docs/alarms.md)."""
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    """Energy intervals and estimation (docs/energy.md)."""
    profile_dirs: list[str] = field(default_factory=list)
    """More directories of device profiles (technician-written), searched after the shipped
    ones; a name may not shadow a shipped profile."""
    rules: dict[str, object] = field(default_factory=dict)
    """Schedules, event rules, templates and emergency policy (see docs/rules.md)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
