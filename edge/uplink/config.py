"""Uplink settings: the `[uplink]` table of the venue configuration, decoded once, frozen."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

PositiveInt = Annotated[int, Meta(gt=0)]
PositiveFloat = Annotated[float, Meta(gt=0)]


class TlsConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """TLS towards the broker; `ca` alone verifies the server, `cert`+`key` add a client cert."""

    ca: str | None = None
    """CA bundle that signs the broker's certificate (None: system store)."""
    cert: str | None = None
    """Client certificate (PEM), for brokers that authenticate clients by certificate."""
    key: str | None = None
    """Private key of `cert` (PEM)."""
    insecure: bool = False
    """Skip hostname verification (lab use only)."""


class OutboxConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds of the durable outbox; beyond them `state` (then plain events) are evicted."""

    max_messages: PositiveInt = 500_000
    """Most messages kept while the link is down."""
    max_bytes: PositiveInt = 256 * 1024 * 1024
    """Most payload bytes kept."""
    max_age_s: PositiveFloat = 7 * 24 * 3600.0
    """Evictable messages older than this are dropped (alarms, access events, energy never)."""
    inflight: Annotated[int, Meta(ge=1, le=1000)] = 20
    """Publishes awaiting PUBACK at once (the in-flight window)."""


class SigningConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Ed25519 command signing: `keys` maps a key id to a base64 raw 32-byte public key."""

    required: bool = False
    """When true, an unsigned command or one signed by an unknown key is refused."""
    keys: dict[str, str] = {}
    """Trusted public keys by key id (`kid`)."""
    not_after: dict[str, str] = {}
    """Key id -> ISO 8601 instant from which its signatures are refused (key rotation)."""


class UplinkConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """How the gateway reaches the cloud broker. Topic ids come from the venue's site/gateway."""

    host: str = "127.0.0.1"
    """Broker host name or address."""
    port: Annotated[int, Meta(ge=1, le=65535)] = 1883
    """Broker port (8883 is the usual TLS port)."""
    protocol: Literal[5, 311] = 5
    """MQTT protocol version: 5 (default) or 311 (3.1.1)."""
    keepalive: Annotated[int, Meta(ge=5, le=3600)] = 30
    """Seconds; the broker publishes our Will after about 1.5 x this of silence."""
    client_id: str | None = None
    """MQTT client id; default `edge-{site}-{gateway}`."""
    username: str | None = None
    """MQTT user name."""
    password_file: str | None = None
    """File holding the MQTT password (kept out of the config file)."""
    tls: TlsConfig | None = None
    """TLS settings; None means plain TCP."""
    outbox: OutboxConfig = OutboxConfig()
    """Durable store-and-forward bounds."""
    signing: SigningConfig = SigningConfig()
    """Command signature policy."""
    backoff_initial_s: PositiveFloat = 1.0
    """First wait between reconnect attempts; doubles up to `backoff_cap_s`, with jitter."""
    backoff_cap_s: PositiveFloat = 60.0
    """Longest wait between reconnect attempts."""
    connect_timeout_s: PositiveFloat = 10.0
    """How long to wait for CONNACK (a TLS refusal may surface only as a silent socket)."""
    auth_retry_s: PositiveFloat = 300.0
    """Wait after the broker refused our credentials (slow: credentials rarely fix themselves)."""
    max_payload: PositiveInt = 64 * 1024
    """Largest inbound payload accepted, in bytes."""

    def read_password(self) -> str | None:
        """The password from `password_file`, stripped of the trailing newline."""
        if self.password_file is None:
            return None
        with open(self.password_file, encoding="utf-8") as fh:
            return fh.read().rstrip("\r\n")


def decode_uplink(data: object) -> UplinkConfig:
    """Decode the `[uplink]` table (already parsed TOML) into a frozen config."""
    return msgspec.convert(data, type=UplinkConfig)


def from_venue_uplink(section: object) -> UplinkConfig:
    """Map the venue config's flat `[uplink]` struct (edge.config.model.Uplink) onto this one.

    Duck-typed so this module does not import edge.config: fields `host, port, protocol,
    keepalive, username, password_file, ca_file, cert_file, key_file, outbox_max_messages,
    outbox_max_age_h, command_keys[kid, public_key, not_after]`. Command keys present =>
    signing required.
    """

    def get(name: str, default: object = None) -> object:
        return getattr(section, name, default)

    ca, cert, key = get("ca_file"), get("cert_file"), get("key_file")
    entries = list(get("command_keys", []) or [])  # type: ignore[call-overload]
    keys = {str(k.kid): str(k.public_key) for k in entries}
    not_after = {str(k.kid): str(k.not_after) for k in entries if k.not_after is not None}
    return msgspec.convert(
        {
            "host": get("host", "127.0.0.1"),
            "port": get("port", 1883),
            "protocol": get("protocol", 5),
            "keepalive": get("keepalive", 30),
            "username": get("username"),
            "password_file": get("password_file"),
            "tls": None if ca is None and cert is None else {"ca": ca, "cert": cert, "key": key},
            "outbox": {
                "max_messages": get("outbox_max_messages", 500_000),
                "max_age_s": float(get("outbox_max_age_h", 24 * 7)) * 3600,  # type: ignore[arg-type]
            },
            "signing": {"required": bool(keys), "keys": keys, "not_after": not_after},
        },
        type=UplinkConfig,
    )
