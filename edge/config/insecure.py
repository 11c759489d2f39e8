"""Insecure settings refused by `config check` and at start (docs/security.md).

Nothing that can move an output is accepted unauthenticated unless the config says so:
- commands or bookings from a broker that is not on this machine need their signing keys
  (`[[uplink.command_keys]]`, `[[uplink.booking_keys]]`), or an explicit
  `uplink.allow_unsigned = true` (then the `unsigned_accepted` warning alarm stays active);
- port 8883 is MQTT over TLS: it needs TLS on;
- a key anyone can derive (the simulator's published demo key) is never trusted.
"""

from __future__ import annotations

import ipaddress

from edge.config.errors import Problem
from edge.config.model import VenueConfig

PUBLISHED_KEYS = {
    "do/AZ3jjM+WZQI7RTg5YTE2vNz2eqZ5Z/YpchoG7shI=": "the simulator's former demo pass key, "
    "derived from a seed published in earlier versions of sim/passkeys.py",
    "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=": "the test vector of docs/passes.md and "
    "docs/mqtt.md (private seed 000102...1e1f, printed there)",
}
"""Public keys whose private halves are public knowledge."""
TLS_PORT = 8883


def on_this_machine(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def unsigned_accepted(cfg: VenueConfig) -> list[str]:
    """What a broker off this machine could send unsigned: `commands`, `bookings`."""
    u = cfg.uplink
    if on_this_machine(u.host):
        return []
    return [what for what, keys in (("commands", u.command_keys), ("bookings", u.booking_keys))
            if not keys]  # fmt: skip


def insecure_problems(cfg: VenueConfig) -> list[Problem]:
    out: list[Problem] = []
    u = cfg.uplink
    if not u.allow_unsigned:
        for what in unsigned_accepted(cfg):
            key = "command_keys" if what == "commands" else "booking_keys"
            out.append(
                Problem(
                    f"uplink.{key}",
                    f"{what} from the broker at {u.host} would be accepted unsigned: anyone "
                    "who can publish there could open a gate or change the bookings",
                    f"add [[uplink.{key}]] with the cloud's public key (docs/security.md, "
                    "Key provisioning), or set uplink.allow_unsigned = true to accept the "
                    "risk (a warning alarm then stays active)",
                )
            )
    if u.port == TLS_PORT and not u.uses_tls:
        out.append(
            Problem(
                "uplink.port",
                f"port {TLS_PORT} is MQTT over TLS, but TLS is off: the connection would fail, "
                "or carry credentials and commands in clear text",
                "set uplink.tls = true (and uplink.ca_file for a private CA), or use port "
                "1883 only on a network you trust",
            )
        )
    keyed = (
        ("access.keys", cfg.access.keys),
        ("uplink.command_keys", u.command_keys),
        ("uplink.booking_keys", u.booking_keys),
    )
    for where, keys in keyed:
        for i, k in enumerate(keys):
            why = PUBLISHED_KEYS.get(k.public_key.strip())
            if why is not None:
                out.append(
                    Problem(
                        f"{where}[{i}].public_key",
                        f"key '{k.kid}' is {why}: anyone can sign with it",
                        "generate your own key pair and put its public key here "
                        "(docs/security.md, Key provisioning)",
                    )
                )
    return out
