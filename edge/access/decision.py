"""The access decision: a pure, deterministic function of (credential, gate, now, context).

Order of checks for a pass: decode, key, signature, then only signed facts are
trusted (site, revocation, gate, time, booking, entries, anti-passback). Ids from a
pass that failed verification never leave this module: they are attacker-controlled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from edge.access.context import (
    AccessPolicy,
    BookingView,
    DecisionContext,
    Direction,
    GateSpec,
    RevocationKind,
)
from edge.access.credentials import (
    Credential,
    CredentialKind,
    MemberCredential,
    QrCredential,
    normalise_plate,
    valid_member_id,
)
from edge.access.errors import MalformedPass
from edge.access.keys import KeyVerdict
from edge.access.passes import PassFields, parse_pass


class Reason(StrEnum):
    GRANTED = "granted"
    EMERGENCY = "emergency"
    """Informational: an egress gate during an emergency is open whatever the credential."""
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_KEY = "expired_key"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SITE = "wrong_site"
    REVOKED = "revoked"
    WRONG_GATE = "wrong_gate"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    BOOKING_UNKNOWN = "booking_unknown"
    BOOKING_CANCELLED = "booking_cancelled"
    NO_BOOKING = "no_booking"
    USED_UP = "used_up"
    ENTRIES_UNKNOWN = "entries_unknown"
    """A counted pass valid from before pass entry counts were lost (storage): fail closed."""
    PASSBACK = "passback"
    RATE_LIMITED = "rate_limited"
    """Never produced by `decide`: the reader limiter answers before a decision is made."""
    STORE_ERROR = "store_error"
    """Never produced by `decide`: the access store failed, so the scan is refused (fail closed)."""


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: Reason
    gate: str
    kind: CredentialKind
    pass_id: str | None = None
    booking_id: str | None = None
    direction: Direction | None = None
    pass_expires: datetime | None = None
    """Kept so the store can forget a pass's usage once the pass can no longer be used."""
    detail: str = ""
    """A short stable code refining the reason (e.g. the malformed-pass code)."""


def decide(credential: Credential, gate_id: str, now: datetime, ctx: DecisionContext) -> Decision:
    spec = ctx.site.gates.get(gate_id)
    if spec is None:
        return Decision(False, Reason.WRONG_GATE, gate_id, credential.kind, detail="unknown_gate")
    if isinstance(credential, QrCredential):
        return _decide_pass(credential, spec, now, ctx)
    if isinstance(credential, MemberCredential):
        return _decide_member(credential.member_id, spec, now, ctx)
    return _decide_plate(credential.plate, spec, now, ctx)


def refused(reason: Reason, gate_id: str, kind: CredentialKind) -> Decision:
    """A refusal made outside `decide` (rate limited, store failure)."""
    return Decision(False, reason, gate_id, kind)


def _decide_pass(
    cred: QrCredential, spec: GateSpec, now: datetime, ctx: DecisionContext
) -> Decision:
    emergency = ctx.emergency and spec.egress
    try:
        signed = parse_pass(cred.token)
    except MalformedPass as exc:
        return _for_pass(
            spec, Reason.EMERGENCY if emergency else Reason.MALFORMED, None, exc.reason
        )
    verdict = ctx.site.keys.verify(signed.kid, signed.message, signed.signature, now)
    if verdict is not KeyVerdict.OK:
        return _for_pass(spec, Reason.EMERGENCY if emergency else Reason(verdict.value), None)
    f = signed.fields
    if emergency:
        return _for_pass(spec, Reason.EMERGENCY, f)
    if f.site != ctx.site.site:
        return _for_pass(spec, Reason.WRONG_SITE, f)
    if ctx.state.is_revoked(RevocationKind.PASS, f.pass_id):
        return _for_pass(spec, Reason.REVOKED, f)
    if spec.gate_id not in f.gates and spec.zones.isdisjoint(f.zones):
        return _for_pass(spec, Reason.WRONG_GATE, f)
    if spec.direction is Direction.OUT:
        # Leaving is allowed late and after a cancellation; it only clears anti-passback.
        return _for_pass(spec, Reason.GRANTED, f)
    if now < f.not_before:
        return _for_pass(spec, Reason.NOT_YET_VALID, f)
    if now >= f.expires:
        return _for_pass(spec, Reason.EXPIRED, f)
    policy = ctx.site.policy
    booking = ctx.bookings.by_id(f.booking_id)
    if booking is None or booking.site != ctx.site.site:
        if not policy.trust_unknown_booking:
            return _for_pass(spec, Reason.BOOKING_UNKNOWN, f)
    else:
        if booking.cancelled:
            return _for_pass(spec, Reason.BOOKING_CANCELLED, f)
        if now < _opens(booking, policy):
            return _for_pass(spec, Reason.NOT_YET_VALID, f, "booking")
        if now >= _closes(booking, policy):
            return _for_pass(spec, Reason.EXPIRED, f, "booking")
    if f.entries and ctx.counts_lost_at is not None and f.not_before <= ctx.counts_lost_at:
        return _for_pass(spec, Reason.ENTRIES_UNKNOWN, f)
    usage = ctx.state.usage(f.pass_id)
    if f.entries and usage.entries >= f.entries:
        return _for_pass(spec, Reason.USED_UP, f)
    if (
        usage.last_direction is Direction.IN
        and usage.last_ts is not None
        # A clock stepped backwards (negative age) counts as inside the window: refuse.
        and (now - usage.last_ts).total_seconds() < policy.passback_window_s
    ):
        return _for_pass(spec, Reason.PASSBACK, f)
    return _for_pass(spec, Reason.GRANTED, f)


def _for_pass(spec: GateSpec, reason: Reason, f: PassFields | None, detail: str = "") -> Decision:
    return Decision(
        granted=reason in (Reason.GRANTED, Reason.EMERGENCY),
        reason=reason,
        gate=spec.gate_id,
        kind=CredentialKind.QR,
        pass_id=None if f is None else f.pass_id,
        booking_id=None if f is None else f.booking_id,
        direction=spec.direction,
        pass_expires=None if f is None else f.expires,
        detail=detail,
    )


def _decide_member(member_id: str, spec: GateSpec, now: datetime, ctx: DecisionContext) -> Decision:
    kind = CredentialKind.MEMBER
    if not valid_member_id(member_id):
        return _plain(False, Reason.MALFORMED, spec, kind, detail="member_id")
    if ctx.emergency and spec.egress:
        return _plain(True, Reason.EMERGENCY, spec, kind)
    if ctx.state.is_revoked(RevocationKind.MEMBER, member_id):
        return _plain(False, Reason.REVOKED, spec, kind)
    if spec.direction is Direction.OUT:
        return _plain(True, Reason.GRANTED, spec, kind)
    around = timedelta(seconds=ctx.site.policy.lookaround_s)
    found = ctx.bookings.for_member(member_id, now - around, now + around)
    mine = [b for b in found if b.member_id == member_id and b.site == ctx.site.site]
    return _match(mine, spec, now, ctx.site.policy, kind, zoned=True)


def _decide_plate(text: str, spec: GateSpec, now: datetime, ctx: DecisionContext) -> Decision:
    kind = CredentialKind.PLATE
    plate = normalise_plate(text)
    if plate is None:
        return _plain(False, Reason.MALFORMED, spec, kind, detail="plate")
    if ctx.emergency and spec.egress:
        return _plain(True, Reason.EMERGENCY, spec, kind)
    if ctx.state.is_revoked(RevocationKind.PLATE, plate):
        return _plain(False, Reason.REVOKED, spec, kind)
    if spec.direction is Direction.OUT:
        return _plain(True, Reason.GRANTED, spec, kind)
    around = timedelta(seconds=ctx.site.policy.lookaround_s)
    found = ctx.bookings.for_plate(plate, now - around, now + around)
    mine = [b for b in found if b.plate == plate and b.site == ctx.site.site]
    # The car-park barrier admits to the car park, not to the booked court: no zone match.
    return _match(mine, spec, now, ctx.site.policy, kind, zoned=False)


# Most telling refusal first, when no booking admits the holder now.
_REFUSAL_ORDER = (
    Reason.BOOKING_CANCELLED,
    Reason.WRONG_GATE,
    Reason.NOT_YET_VALID,
    Reason.EXPIRED,
)


def _match(
    bookings: Sequence[BookingView],
    spec: GateSpec,
    now: datetime,
    policy: AccessPolicy,
    kind: CredentialKind,
    *,
    zoned: bool,
) -> Decision:
    refusals: dict[Reason, str] = {}
    for b in sorted(bookings, key=lambda b: (b.start, b.booking_id)):
        zone_ok = not zoned or not spec.zones.isdisjoint(b.zones)
        if now < _opens(b, policy):
            timing = Reason.NOT_YET_VALID
        elif now >= _closes(b, policy):
            timing = Reason.EXPIRED
        else:
            timing = Reason.GRANTED
        if timing is Reason.GRANTED and zone_ok and not b.cancelled:
            return _plain(True, Reason.GRANTED, spec, kind, booking_id=b.booking_id)
        if b.cancelled:
            refusal = Reason.BOOKING_CANCELLED if timing is Reason.GRANTED and zone_ok else None
        elif not zone_ok:
            refusal = Reason.WRONG_GATE if timing is Reason.GRANTED else None
        else:
            refusal = timing
        if refusal is not None:
            refusals.setdefault(refusal, b.booking_id)
    for reason in _REFUSAL_ORDER:
        if reason in refusals:
            return _plain(False, reason, spec, kind, booking_id=refusals[reason])
    return _plain(False, Reason.NO_BOOKING, spec, kind)


def _opens(b: BookingView, policy: AccessPolicy) -> datetime:
    return b.start - timedelta(seconds=policy.early_entry_s)


def _closes(b: BookingView, policy: AccessPolicy) -> datetime:
    return b.end + timedelta(seconds=policy.late_grace_s)


def _plain(
    granted: bool,
    reason: Reason,
    spec: GateSpec,
    kind: CredentialKind,
    *,
    booking_id: str | None = None,
    detail: str = "",
) -> Decision:
    return Decision(
        granted, reason, spec.gate_id, kind, None, booking_id, spec.direction, None, detail
    )
