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
    """Display name of the venue."""
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
    """Building, for people finding the device."""
    floor: int = 0
    """Floor number (0 = ground)."""
    room: str = ""
    """Room or area."""
    x: float = 0.0
    """Position on the floor plan."""
    y: float = 0.0
    """Position on the floor plan."""


ZoneKind = Literal[
    "court", "hall", "room", "reading_room", "exhibition", "training", "lobby", "gate", "car_park"
]


class Zone(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    """Zone id, as bookings, topics and `edgectl explain` name it."""
    kind: ZoneKind
    """What the zone is; picks the booking template (docs/rules.md)."""
    name: str = ""
    """Display name."""
    parent: Id | None = None
    """The enclosing zone (a court's hall): shared equipment follows the union of its zones."""
    target_temp_c: Celsius | None = None
    """HVAC target while the zone is in use (default by kind, docs/rules.md)."""
    lights: list[PointRef] = field(default_factory=list)
    """Light outputs that serve this zone."""
    hvac: list[Id] = field(default_factory=list)
    """HVAC devices that serve this zone (setpoint and on/off points come from the profile)."""
    sensors: list[Id] = field(default_factory=list)
    """Sensor devices in the zone (temperature, humidity, CO2)."""


class ModbusTcpBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_tcp",
    tag_field="kind",
):
    id: Id
    """Bus id, as devices name it in `bus`."""
    host: str
    """Address of the Modbus TCP device or gateway."""
    port: Port = 502
    """TCP port."""
    timeout: Seconds = 1.0
    """Seconds to wait for a reply."""
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    """Retries of a failed request before the device counts as not answering."""
    concurrency: Annotated[int, Meta(ge=1, le=16)] = 1
    """Requests in flight at once on the connection (1 for serial gateways)."""


class ModbusRtuBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_rtu",
    tag_field="kind",
):
    id: Id
    """Bus id, as devices name it in `bus`."""
    port: str
    """Serial device, e.g. `/dev/ttyUSB0`."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    """Line speed."""
    parity: Literal["N", "E", "O"] = "E"
    """`N` none, `E` even, `O` odd."""
    stopbits: Literal[1, 2] = 1
    """Stop bits."""
    timeout: Seconds = 0.5
    """Seconds to wait for a reply."""
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    """Retries of a failed request before the device counts as not answering."""


class ModbusRtuTcpBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="modbus_rtu_tcp",
    tag_field="kind",
):
    id: Id
    """Bus id, as devices name it in `bus`."""
    host: str
    """Address of the serial-to-Ethernet gateway."""
    port: Port = 4001
    """The gateway's TCP port."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    """The serial side's baud rate, for the inter-frame silence."""
    timeout: Seconds = 1.0
    """Seconds to wait for a reply."""
    retries: Annotated[int, Meta(ge=0, le=10)] = 2
    """Retries of a failed request before the device counts as not answering."""


class SerialLineBus(
    Struct,
    frozen=True,
    forbid_unknown_fields=True,
    kw_only=True,
    tag="serial_line",
    tag_field="kind",
):
    id: Id
    """Reader id."""
    port: str
    """Serial device, e.g. `/dev/ttyUSB2`."""
    role: Literal["qr_scanner", "face_terminal", "card_reader", "plate_camera"]
    """What the reader reads."""
    gate: Id
    """The gate this reader admits to."""
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    """Line speed."""
    max_line: Annotated[int, Meta(ge=16, le=4096)] = 512
    """Longest line accepted; a longer one is dropped."""


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
    """Reader id."""
    role: Literal["qr_scanner", "face_terminal", "card_reader", "plate_camera"]
    """What the reader reads."""
    gate: Id
    """The gate this reader admits to."""
    port: Port
    """TCP port: the reader's (`client`) or the one edged listens on (`server`)."""
    host: str = "127.0.0.1"
    """`client`: the reader's address; `server`: the address edged listens on."""
    mode: Literal["client", "server"] = "client"
    """`client`: edged connects to the reader (and reconnects); `server`: the reader connects."""
    max_line: Annotated[int, Meta(ge=16, le=4096)] = 512
    """Longest line accepted; a longer one is dropped."""
    idle_timeout_s: Annotated[float, Meta(gt=0, le=86400)] | None = None
    """Drop a connection silent this long (a reader that hangs without closing)."""
    max_connections: Annotated[int, Meta(ge=1, le=64)] = 4
    """`server`: readers connected at once."""


class GpioBus(
    Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag="gpio", tag_field="kind"
):
    """The gateway's own pins: relays (`gpio_relay`) and contact inputs (`gpio_input`)."""

    id: Id
    """Bus id, as devices name it in `bus`."""
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
    """Bus id, as devices name it in `bus`."""
    interval_s: Annotated[float, Meta(ge=1, le=3600)] = 10.0
    """Each device is probed this often."""
    timeout_s: Annotated[float, Meta(ge=0.1, le=60)] = 2.0
    """A probe without a complete answer in this time failed."""
    fail_after: Annotated[int, Meta(ge=1, le=100)] = 3
    """Consecutive failed probes before a device is offline (one success: online)."""
    max_concurrent: Annotated[int, Meta(ge=1, le=256)] = 32
    """Probes in flight at once."""


Bus = (
    ModbusTcpBus | ModbusRtuBus | ModbusRtuTcpBus | SerialLineBus | TcpLineBus | GpioBus
    | NetworkBus
)  # fmt: skip


class Device(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    """Device id, as point references name it (`device.point`)."""
    profile: str
    """A profile shipped in `drivers/profiles/` (e.g. `lighting_8ch`)."""
    bus: Id
    """The bus it is on (a `[[buses]]` id)."""
    unit_id: UnitId | None = None
    """Modbus unit id 1..247 (Modbus buses only)."""
    pin: Annotated[int, Meta(ge=0, le=63)] | None = None
    """GPIO pin (BCM numbering; GPIO buses only)."""
    zone: Id | None = None
    """The zone it is in (explain, energy, alarms)."""
    name: str = ""
    """Display name."""
    location: Location = field(default_factory=Location)
    """Where it is, for people: `{ building, floor, room, x, y }`."""
    poll_interval: Annotated[float, Meta(ge=0.05, le=3600)] = 1.0
    """Seconds between polls of the device."""
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
    """Key id, as signatures name it."""
    public_key: str
    """Ed25519 public key, base64 (32 bytes)."""
    not_after: str | None = None
    """The key is refused after this time (RFC 3339 with an offset, e.g. `2027-01-01T00:00:00Z`)."""


class Gate(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    id: Id
    """Gate id, as readers (`gate`) and passes name it."""
    device: Id
    """The gate controller (Modbus) or GPIO relay device that opens it."""
    zones: list[Id] = field(default_factory=list)
    """Zones the gate admits to: a pass for one of them opens it."""
    egress: bool = False
    """On the egress path: opened and held open in a fire emergency."""
    direction: Literal["in", "out"] = "in"
    """`in`: entries are counted and anti-passback applies; `out`: only genuineness is checked."""
    pulse_s: Annotated[float, Meta(ge=0.5, le=60)] = 3.0
    """How long the gate's relay is held on per opening (the controller's pulse register,
    or timed by edged for a plain relay)."""


class Access(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    keys: list[AccessKey] = field(default_factory=list)
    """Issuer keys that sign passes."""
    gates: list[Gate] = field(default_factory=list)
    """Gates and the devices that open them."""
    early_entry_min: Minutes = 15.0
    """How long before a booking starts its holder may enter."""
    late_grace_min: Minutes = 15.0
    """How long after a booking ends its holder may still enter."""
    passback_window_min: Minutes = 10.0
    """A pass that entered cannot enter again at an entry gate within this time without exiting."""
    reader_rate_per_s: Annotated[float, Meta(gt=0, le=1000)] = 2.0
    """Distinct scans per second a reader may sustain; more are refused as rate_limited."""
    reader_burst: Annotated[int, Meta(ge=1, le=1000)] = 5
    """Distinct scans a reader may send at once after being quiet."""


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
    """MQTT user name."""
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
    command_max_lifetime_s: Annotated[float, Meta(gt=0, le=24 * 3600)] = 3600.0
    """Longest a command may live: `expires_at - issued_at` (or `expires_at - now` when it
    has no `issued_at`); a longer-lived command is refused at receipt (docs/security.md)."""
    booking_keys: list[AccessKey] = field(default_factory=list)
    """Keys that sign booking snapshots and deltas; when set, unsigned bookings are refused."""
    booking_max_version_jump: Annotated[int, Meta(ge=1, le=2**53 - 1)] = 1_000_000
    """Furthest a booking snapshot or delta may jump ahead of the stored version; beyond it
    the message is refused unless it is a signed reset (docs/mqtt.md, Bookings)."""
    allow_unsigned: bool = False
    """Accept unsigned commands or bookings from a broker that is not on this machine (no
    `command_keys` / `booking_keys`). Refused unless set; when set, the `unsigned_accepted`
    warning alarm stays active (docs/security.md)."""
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
    """Lowest setpoint anyone (cloud, edgectl, rules) may set."""
    setpoint_max_c: Celsius = 30.0
    """Highest setpoint anyone may set."""
    cloud_override_min: Annotated[float, Meta(gt=0, le=7 * 1440)] = 120.0
    """How long a cloud `set_point` or `scene` holds before the schedule takes over again."""


class VenueConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    site: Site
    """The venue's identity and timezone."""
    storage: Storage = field(default_factory=Storage)
    """Where edged keeps its state and its socket."""
    zones: list[Zone] = field(default_factory=list)
    """Courts, halls and rooms: what bookings, lights and HVAC follow."""
    buses: list[Bus] = field(default_factory=list)
    """Field buses and reader lines, one table per link (`kind` says which)."""
    devices: list[Device] = field(default_factory=list)
    """Field devices: each on a bus, with a profile."""
    uplink: Uplink = field(default_factory=Uplink)
    """The cloud broker."""
    access: Access = field(default_factory=Access)
    """Passes, gates and their keys (docs/passes.md)."""
    guardrails: Guardrails = field(default_factory=Guardrails)
    """Bounds on what any command may set."""
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
    """Log verbosity."""
