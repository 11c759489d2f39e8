"""Booking signatures and the version bound, on the sync and a real SQLite store: every
refusal code, key rotation, signed resets, and hypothesis over what an attacker may send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.bookings import BookingStore, BookingSync, SyncReport
from edge.bookings.auth import BookingAuth
from edge.clock import SimClock
from edge.config.model import AccessKey, Uplink
from edge.storage import Database
from edge.uplink.booking_auth import booking_auth
from edge.uplink.signing import BOOKINGS_DOMAIN, COMMAND_DOMAIN, public_key_b64, sign

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
ROOT = "edge/v1/site1/gw1/"
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def bk(bid: str, start_h: float = 1, member: str = "m1", zone: str = "court-1") -> dict[str, Any]:
    start = T0 + timedelta(hours=start_h)
    end = start + timedelta(hours=1)
    return {"booking_id": bid, "zone": zone, "start": start.isoformat(),
            "end": end.isoformat(), "member": member}  # fmt: skip


def snap_obj(version: int, *bookings: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"version": version, "bookings": list(bookings), **extra}


def delta_obj(
    version: int, *upsert: dict[str, Any], remove: list[str] | None = None
) -> dict[str, Any]:
    return {"version": version, "upsert": list(upsert), "remove": remove or []}


def signed(
    what: str,
    obj: dict[str, Any],
    key: Ed25519PrivateKey = KEY,
    kid: str = "b1",
    domain: bytes = BOOKINGS_DOMAIN,
    root: str = ROOT,
) -> bytes:
    topic = root + ("bookings" if what == "snapshot" else "bookings/delta")
    return msgspec.json.encode(sign(topic, obj, key, kid, domain))


def plain(obj: dict[str, Any]) -> bytes:
    return msgspec.json.encode(obj)


def uplink(keys: dict[str, Ed25519PrivateKey], **kw: Any) -> Uplink:
    entries = [
        AccessKey(kid=kid, public_key=public_key_b64(k), not_after=kw.pop(f"{kid}_not_after", None))
        for kid, k in keys.items()
    ]
    return Uplink(booking_keys=entries, **kw)


class World:
    def __init__(self, db: Database, store: BookingStore) -> None:
        self.db = db
        self.store = store
        self.clock = SimClock(T0)
        self.events: list[SyncReport] = []
        self.alarms: list[tuple[bool, str]] = []
        self.auth: BookingAuth = booking_auth(uplink({"b1": KEY}), ROOT)
        self.sync = BookingSync(
            store,
            self.clock,
            {"court-1", "court-2"}.__contains__,
            auth=lambda: self.auth,
            alarm=lambda active, msg: self.alarms.append((active, msg)),
        )
        self.sync.reports.subscribe(self.events.append)

    def codes(self) -> list[str | None]:
        return [e.data.get("code") for e in self.events if e.kind == "bookings_rejected"]

    def ids(self) -> list[str]:
        return [b.booking_id for b in self.store.snapshot()]

    def alarm_active(self) -> bool:
        return bool(self.alarms) and self.alarms[-1][0]


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database.open(tmp_path / "b.db")
    yield World(db, await BookingStore.open(db))
    db.close()


async def test_signed_messages_apply_and_clear_the_alarm(world: World) -> None:
    """A validly signed snapshot and delta apply; a refusal in between raises the alarm,
    the next applied version returns it."""
    await world.sync.on_snapshot(signed("snapshot", snap_obj(1, bk("a"))))
    await world.sync.on_delta(plain(delta_obj(2, bk("x", 3))))
    assert world.alarm_active() and world.codes() == ["signature_required"]
    await world.sync.on_delta(signed("delta", delta_obj(2, bk("b", 3))))
    assert world.ids() == ["a", "b"] and world.store.version == 2
    assert not world.alarm_active()


async def test_every_way_to_fail_the_signature_changes_nothing(world: World) -> None:
    """Unsigned, wrong key, unknown kid, another gateway's topic, the other booking topic,
    the command domain, a tampered body, garbage in `sig`: each refused with its code."""
    body = snap_obj(1, bk("evil", member="intruder"))
    good = sign(ROOT + "bookings", body, KEY, "b1", BOOKINGS_DOMAIN)
    attempts = [
        plain(body),
        signed("snapshot", body, key=OTHER),
        signed("snapshot", body, key=OTHER, kid="nobody"),
        signed("snapshot", body, root="edge/v1/site1/gw2/"),
        signed("delta", body),
        signed("snapshot", body, domain=COMMAND_DOMAIN),
        plain({**good, "version": 2}),
        plain({**good, "bookings": [bk("evil", member="someone-else")]}),
        plain({**good, "sig": {**good["sig"], "value": "not base64!"}}),
        plain({**good, "sig": {"kid": "b1", "alg": "ed25519", "value": ""}}),
    ]
    for payload in attempts:
        await world.sync.on_snapshot(payload)
    assert world.codes() == [
        "signature_required", "bad_signature", "unknown_key", "bad_signature",
        "bad_signature", "bad_signature", "bad_signature", "bad_signature",
        "bad_signature", "bad_signature",
    ]  # fmt: skip
    assert world.store.version == 0 and world.ids() == []
    assert all(e.data["what"] == "snapshot" for e in world.events)
    assert world.alarm_active()
    await world.sync.on_snapshot(plain(good))  # the untouched original still verifies
    assert world.ids() == ["evil"]


async def test_what_applies_is_what_was_signed(world: World) -> None:
    """A duplicate key smuggled in front of a signed snapshot (`bookings` twice): only the
    signed bookings can apply, never the smuggled ones."""
    good = plain(sign(ROOT + "bookings", snap_obj(1, bk("a")), KEY, "b1", BOOKINGS_DOMAIN))
    evil = plain({"bookings": [bk("evil", member="intruder")]})
    await world.sync.on_snapshot(evil[:-1] + b"," + good[1:])
    assert world.ids() == ["a"]


async def test_expired_key_is_refused_and_rotation_works(world: World) -> None:
    """A key past its `not_after` is refused (`key_expired`); the next key signs."""
    world.auth = booking_auth(
        uplink({"old": OTHER, "b1": KEY}, old_not_after="2026-05-01T00:00:00Z"), ROOT
    )
    await world.sync.on_snapshot(signed("snapshot", snap_obj(1, bk("a")), key=OTHER, kid="old"))
    assert world.codes() == ["key_expired"] and world.store.version == 0
    await world.sync.on_snapshot(signed("snapshot", snap_obj(1, bk("a"))))
    assert world.store.version == 1


async def test_without_keys_a_signature_is_ignored_and_reset_does_not_count(
    world: World,
) -> None:
    """No booking keys: unsigned messages apply as before; a signed one too (the cloud may
    sign before the gateway has keys), but its `reset` does not count."""
    world.auth = booking_auth(Uplink(), ROOT)
    await world.sync.on_snapshot(plain(snap_obj(5, bk("a"))))
    await world.sync.on_snapshot(signed("snapshot", snap_obj(6, bk("b"))))
    assert world.ids() == ["b"] and world.codes() == []
    await world.sync.on_snapshot(signed("snapshot", snap_obj(1, bk("c"), reset=True)))
    assert world.ids() == ["b"] and world.store.version == 6


async def test_version_jump_is_refused_and_the_next_update_applies(world: World) -> None:
    """2^63-1 (snapshot and delta) and bound+1 are refused, not buffered; the feed goes on.
    Exactly the bound is accepted."""
    world.auth = booking_auth(Uplink(booking_max_version_jump=10), ROOT)
    await world.sync.on_snapshot(plain(snap_obj(1, bk("a"))))
    for payload in (plain(snap_obj(2**63 - 1, bk("z"))), plain(snap_obj(12, bk("z")))):
        await world.sync.on_snapshot(payload)
    await world.sync.on_delta(plain(delta_obj(2**63 - 1, bk("z", 5))))
    await world.sync.on_delta(plain(delta_obj(12, bk("z", 5))))
    assert world.codes() == ["version_jump"] * 4 and world.alarm_active()
    assert world.store.version == 1 and world.ids() == ["a"]
    assert [e.kind for e in world.events] == ["bookings_rejected"] * 4  # no resync: not buffered
    await world.sync.on_delta(plain(delta_obj(2, bk("b", 3))))
    assert world.store.version == 2 and not world.alarm_active()
    await world.sync.on_snapshot(plain(snap_obj(12, bk("c"))))  # exactly the bound
    assert world.store.version == 12 and world.ids() == ["c"]


async def test_signed_reset_repairs_a_bogus_stored_version(world: World) -> None:
    """A store left at a bogus version (e.g. by an older edged) refuses the real feed, which
    is far behind (alarm); an unsigned reset does not count; a signed one does."""
    world.auth = booking_auth(uplink({"b1": KEY}, booking_max_version_jump=100), ROOT)
    await world.store.replace_all(2**62, [])
    await world.sync.on_snapshot(signed("snapshot", snap_obj(40, bk("a"))))
    assert world.codes() == ["version_jump"] and world.store.version == 2**62
    assert "reset" in world.events[-1].data["reason"] and world.alarm_active()
    world.auth = booking_auth(Uplink(booking_max_version_jump=100), ROOT)  # no keys
    await world.sync.on_snapshot(plain(snap_obj(40, bk("a"), reset=True)))
    assert world.store.version == 2**62  # unsigned: `reset` does not count
    world.auth = booking_auth(uplink({"b1": KEY}, booking_max_version_jump=100), ROOT)
    await world.sync.on_snapshot(signed("snapshot", snap_obj(40, bk("a"), reset=True)))
    assert world.store.version == 40 and world.ids() == ["a"] and not world.alarm_active()
    await world.sync.on_delta(signed("delta", delta_obj(41, bk("b", 3))))
    assert world.store.version == 41 and world.ids() == ["a", "b"]


async def test_refusals_survive_a_restart(world: World, tmp_path: Path) -> None:
    """A refused huge version leaves the file at the old version: a new process goes on."""
    world.auth = booking_auth(Uplink(), ROOT)
    await world.sync.on_snapshot(plain(snap_obj(3, bk("a"))))
    await world.sync.on_snapshot(plain(snap_obj(2**63 - 1)))
    world.db.close()
    db = Database.open(tmp_path / "b.db")
    try:
        store = await BookingStore.open(db)
        assert store.version == 3
        sync = BookingSync(store, SimClock(T0), {"court-1"}.__contains__)
        await sync.on_delta(plain(delta_obj(4, bk("b", 3))))
        assert store.version == 4
    finally:
        db.close()
        world.db = Database.open(tmp_path / "b.db")


# ---------------------------------------------------------------------- hypothesis

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
SIG = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"kid": st.sampled_from(["b1", "b2", ""]) | st.text(max_size=4),
         "alg": st.just("ed25519"),
         "value": st.text(max_size=100) | st.binary(min_size=64, max_size=64).map(
             lambda b: __import__("base64").b64encode(b).decode())},
    ),
)  # fmt: skip


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    what=st.sampled_from(["snapshot", "delta"]),
    version=st.one_of(st.integers(min_value=-2, max_value=5), st.integers()),
    reset=st.booleans() | JSON,
    sig=SIG,
    extra=st.dictionaries(st.sampled_from(["generated_at", "x", "remove"]), JSON, max_size=2),
)
async def test_nothing_unsigned_or_forged_ever_applies(
    world: World, what: str, version: int, reset: Any, sig: Any, extra: dict[str, Any]
) -> None:
    """With keys configured, any message not signed by the key (random `sig`, any version,
    any `reset`) changes nothing and never raises."""
    obj: dict[str, Any] = {"version": version, **extra, "sig": sig}
    if what == "snapshot":
        obj |= {"bookings": [bk("h", member="hypo")], "reset": reset}
        await world.sync.on_snapshot(plain(obj))
    else:
        obj |= {"upsert": [bk("h", member="hypo")]}
        await world.sync.on_delta(plain(obj))
    assert world.store.version == 0 and world.ids() == []


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    at=st.integers(min_value=0, max_value=10**6),
)
async def test_a_signed_message_mutated_anywhere_is_refused(
    world: World, data: st.DataObject, at: int
) -> None:
    """One byte of a signed snapshot changed (anywhere, to anything): either it no longer
    decodes, or it is refused, or it decodes to exactly what was signed."""
    body = snap_obj(1, bk("a"), bk("b", 3, zone="court-2"))
    payload = bytearray(signed("snapshot", body))
    i = at % len(payload)
    payload[i] = data.draw(st.integers(0, 255).filter(lambda b: b != payload[i]))
    before = world.store.version
    await world.sync.on_snapshot(bytes(payload))
    if world.store.version != before:
        decoded = msgspec.json.decode(bytes(payload))
        decoded.pop("sig")
        assert decoded == body


# ---------------------------------------------------------------------- config


def test_booking_keys_and_bounds_are_checked_when_the_config_is_loaded() -> None:
    """A booking key that cannot be used, or a bound out of range, is a config problem with
    its path (what `edgectl config check` prints), not a refusal of every booking later."""
    from edge.config.errors import ConfigError
    from edge.venue import venue_from_bytes
    from tests.foundation.configs import minimal

    base = minimal(Path("/tmp/edge-test-state"), Path("/tmp/edge-test-run"))
    for extra, where in (
        ('[[uplink.booking_keys]]\nkid = "b1"\npublic_key = "not base64!"', "booking_keys[0]"),
        ("[uplink]\nbooking_max_version_jump = 0", "booking_max_version_jump"),
        ("[uplink]\ncommand_max_lifetime_s = 86401", "command_max_lifetime_s"),
    ):
        with pytest.raises(ConfigError) as err:
            venue_from_bytes((base + "\n" + extra + "\n").encode(), "venue.toml")
        assert any(where in str(p) for p in err.value.problems), err.value.problems


async def test_the_same_reset_seen_again_rolls_nothing_back(world: World) -> None:
    """A retained reset redelivered on reconnect is a plain (old) snapshot: the deltas
    applied after it stay."""
    reset = signed("snapshot", snap_obj(40, bk("a"), reset=True))
    await world.sync.on_snapshot(reset)
    await world.sync.on_delta(signed("delta", delta_obj(41, bk("b", 3))))
    await world.sync.on_snapshot(reset)
    assert world.store.version == 41 and world.ids() == ["a", "b"]


def test_keys_follow_the_venue_in_force() -> None:
    """The daemon's policy is rebuilt when a reload brings another `[uplink]` (keys rotate
    without a restart) and reused while it stays the same."""
    from edge.uplink.booking_auth import CurrentBookingAuth

    current = [Uplink()]
    auth = CurrentBookingAuth(lambda: (current[0], ROOT))
    first = auth()
    assert not first.required and auth() is first
    current[0] = uplink({"b1": KEY}, booking_max_version_jump=5)
    second = auth()
    assert second.required and second.max_version_jump == 5
    body = sign(ROOT + "bookings", snap_obj(1), KEY, "b1", BOOKINGS_DOMAIN)
    assert second.refusal("snapshot", body, T0) is None
    assert second.refusal("delta", body, T0) == (
        "bad_signature",
        "signature does not verify over the RFC 8785 canonical bytes (docs/mqtt.md)",
    )
