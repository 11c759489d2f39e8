"""The pure decision: every reason code, for passes, member ids and plates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from edge.access import (
    AccessPolicy,
    Decision,
    Direction,
    MemberCredential,
    PassUsage,
    PlateCredential,
    QrCredential,
    Reason,
    RevocationKind,
    decide,
)
from edge.access.decision import refused
from tests.access.helpers import (
    END,
    NOW,
    OTHER_KEY,
    START,
    MemoryState,
    booking,
    context,
    mint,
    ring,
)


def qr(token: str | bytes, gate: str = "gate-main", now=NOW, **ctx) -> Decision:  # type: ignore[no-untyped-def]
    return decide(QrCredential(token), gate, now, context(**ctx))


def test_valid_pass_granted_with_ids() -> None:
    """A valid pass at a gate of its zone is granted, carrying pass and booking ids."""
    d = qr(mint())
    assert (d.granted, d.reason, d.pass_id, d.booking_id, d.gate) == (
        True,
        Reason.GRANTED,
        "p-1",
        "b-1",
        "gate-main",
    )
    assert d.direction is Direction.IN


def test_gate_listed_by_id_is_allowed() -> None:
    """A pass listing a gate by id opens it even when it names no matching zone."""
    assert qr(mint(zones=(), gates=("gate-gym",)), gate="gate-gym").reason is Reason.GRANTED


def test_malformed() -> None:
    """Garbage is malformed, with the parser's code as detail and no ids."""
    d = qr(b"\x00\xffgarbage")
    assert (d.granted, d.reason, d.detail, d.pass_id) == (
        False,
        Reason.MALFORMED,
        "not_ascii",
        None,
    )


def test_bad_signature_on_flipped_bit_hides_ids() -> None:
    """A flipped bit in the signed body fails the signature; no unverified ids come out."""
    token = mint()
    flipped = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    d = qr(flipped)
    assert d.reason in (Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNKNOWN_KEY)
    assert not d.granted and d.pass_id is None and d.booking_id is None


def test_signed_by_unconfigured_key_is_bad_signature() -> None:
    """A pass naming our kid but signed by another key is bad_signature."""
    assert qr(mint(key=OTHER_KEY)).reason is Reason.BAD_SIGNATURE


def test_unknown_key() -> None:
    """A kid the venue does not know is unknown_key."""
    assert qr(mint(kid="k-1999")).reason is Reason.UNKNOWN_KEY


def test_expired_key() -> None:
    """A key past its not_after refuses even a well-signed pass."""
    d = qr(mint(), keys=ring(not_after=NOW - timedelta(seconds=1)))
    assert d.reason is Reason.EXPIRED_KEY


def test_wrong_site() -> None:
    """A genuine pass for another site is wrong_site."""
    assert qr(mint(site="other-site")).reason is Reason.WRONG_SITE


def test_revoked_pass() -> None:
    """A pass on the revocation list is revoked."""
    state = MemoryState(revoked={(RevocationKind.PASS, "p-1")})
    assert qr(mint(), state=state).reason is Reason.REVOKED


@pytest.mark.parametrize("gate", ["gate-gym", "no-such-gate"])
def test_wrong_gate(gate: str) -> None:
    """A gate outside the pass's zones and gates (or unknown) is wrong_gate."""
    assert qr(mint(), gate=gate).reason is Reason.WRONG_GATE


def test_not_yet_valid_and_expired_by_pass_window() -> None:
    """Before not_before is not_yet_valid; at expires it is expired (exclusive)."""
    assert qr(mint(), now=START - timedelta(minutes=16)).reason is Reason.NOT_YET_VALID
    assert qr(mint(), now=END + timedelta(minutes=15)).reason is Reason.EXPIRED
    assert qr(mint(), now=END + timedelta(minutes=14, seconds=59)).reason is Reason.GRANTED


def test_booking_window_with_early_entry_and_late_grace() -> None:
    """The booking's own window (start - early, end + grace) is enforced inside the pass's."""
    long_pass = mint(not_before=START - timedelta(hours=5), expires=END + timedelta(hours=5))
    policy = AccessPolicy(early_entry_s=600, late_grace_s=300)
    early = qr(long_pass, now=START - timedelta(minutes=11), policy=policy)
    ok = qr(long_pass, now=START - timedelta(minutes=10), policy=policy)
    late = qr(long_pass, now=END + timedelta(minutes=5), policy=policy)
    assert (early.reason, early.detail) == (Reason.NOT_YET_VALID, "booking")
    assert ok.reason is Reason.GRANTED
    assert (late.reason, late.detail) == (Reason.EXPIRED, "booking")


def test_booking_cancelled() -> None:
    """A cancelled booking refuses its pass at once."""
    assert qr(mint(), bookings=[booking(cancelled=True)]).reason is Reason.BOOKING_CANCELLED


def test_booking_unknown_unless_trusted() -> None:
    """A pass whose booking is not in the store is booking_unknown, unless policy trusts it."""
    assert qr(mint(), bookings=[]).reason is Reason.BOOKING_UNKNOWN
    other_site = [booking(site="elsewhere")]
    assert qr(mint(), bookings=other_site).reason is Reason.BOOKING_UNKNOWN
    trusting = AccessPolicy(trust_unknown_booking=True)
    assert qr(mint(), bookings=[], policy=trusting).reason is Reason.GRANTED


def test_used_up() -> None:
    """A pass whose entries are all used is used_up, even after the passback window."""
    state = MemoryState(used={"p-1": PassUsage(2, Direction.OUT, NOW - timedelta(hours=1))})
    assert qr(mint(entries=2), state=state).reason is Reason.USED_UP
    assert qr(mint(entries=0), state=state).reason is Reason.GRANTED


def test_counted_passes_from_before_a_loss_of_entry_counts_fail_closed() -> None:
    """After entry counts may have been lost, a counted pass valid from before the loss is
    entries_unknown (it may have been used); unlimited passes and newer passes are not."""
    lost = NOW - timedelta(minutes=5)  # the pass's not_before is START, before the loss
    assert qr(mint(entries=1), counts_lost_at=lost).reason is Reason.ENTRIES_UNKNOWN
    assert qr(mint(entries=3), counts_lost_at=lost).reason is Reason.ENTRIES_UNKNOWN
    assert qr(mint(entries=0), counts_lost_at=lost).reason is Reason.GRANTED
    before_the_pass = START - timedelta(days=1)
    assert qr(mint(entries=1), counts_lost_at=before_the_pass).reason is Reason.GRANTED
    assert qr(mint(entries=1)).reason is Reason.GRANTED


def test_passback_within_window_without_exit() -> None:
    """Re-entering without an exit inside the window is passback; after it, granted."""
    state = MemoryState(used={"p-1": PassUsage(1, Direction.IN, NOW - timedelta(minutes=2))})
    assert qr(mint(entries=0), state=state).reason is Reason.PASSBACK
    later = NOW + timedelta(minutes=9)
    assert qr(mint(entries=0), state=state, now=later).reason is Reason.GRANTED


def test_passback_when_clock_stepped_back() -> None:
    """A last entry 'in the future' (wall clock stepped back) still counts as recent."""
    state = MemoryState(used={"p-1": PassUsage(1, Direction.IN, NOW + timedelta(hours=1))})
    assert qr(mint(entries=0), state=state).reason is Reason.PASSBACK


def test_exit_gate_grants_even_after_expiry_and_cancellation() -> None:
    """Leaving works late and after cancellation; still needs a genuine pass for the site."""
    late = END + timedelta(hours=3)
    d = qr(mint(), gate="gate-main-out", now=late, bookings=[booking(cancelled=True)])
    assert (d.granted, d.reason, d.direction) == (True, Reason.GRANTED, Direction.OUT)
    assert qr(mint(key=OTHER_KEY), gate="gate-main-out").reason is Reason.BAD_SIGNATURE


def test_emergency_on_egress_gate_is_informational_grant() -> None:
    """In an emergency an egress gate reports emergency/granted, whatever the credential."""
    good = qr(mint(zones=("hall-a",)), gate="fire-exit", emergency=True)
    bad = qr("garbage!", gate="fire-exit", emergency=True)
    forged = qr(mint(key=OTHER_KEY, zones=("hall-a",)), gate="fire-exit", emergency=True)
    assert (good.granted, good.reason, good.pass_id) == (True, Reason.EMERGENCY, "p-1")
    assert (bad.granted, bad.reason, bad.detail) == (True, Reason.EMERGENCY, "bad_charset")
    assert (forged.reason, forged.pass_id) == (Reason.EMERGENCY, None)


def test_emergency_does_not_open_non_egress_gates() -> None:
    """An emergency changes nothing at a normal entry gate."""
    assert qr(mint(key=OTHER_KEY), emergency=True).reason is Reason.BAD_SIGNATURE


def test_refusals_outside_decide() -> None:
    """rate_limited and store_error are refusals built without a decision."""
    d = refused(Reason.RATE_LIMITED, "gate-main", QrCredential(b"").kind)
    assert (d.granted, d.reason) == (False, Reason.RATE_LIMITED)


def test_decision_is_deterministic() -> None:
    """The same inputs give equal decisions."""
    token = mint()
    assert qr(token) == qr(token)


# --- member ids (face / card terminals) ----------------------------------------------


def member(member_id: str, gate: str = "gate-main", now=NOW, **ctx) -> Decision:  # type: ignore[no-untyped-def]
    return decide(MemberCredential(member_id), gate, now, context(**ctx))


def test_member_with_booking_covering_zone_granted() -> None:
    """A member with a confirmed booking for the gate's zone now is granted, with the booking id."""
    d = member("m-42")
    assert (d.granted, d.reason, d.booking_id, d.pass_id) == (True, Reason.GRANTED, "b-1", None)


def test_member_without_booking() -> None:
    """A member with no booking at all is no_booking."""
    assert member("m-7").reason is Reason.NO_BOOKING


def test_member_booking_elsewhere_is_wrong_gate() -> None:
    """A member booked now but for another zone is wrong_gate."""
    assert member("m-42", gate="gate-gym").reason is Reason.WRONG_GATE


def test_member_booking_times() -> None:
    """Too early is not_yet_valid; after the grace it is expired (early/grace honoured)."""
    policy = AccessPolicy(early_entry_s=600, late_grace_s=600)
    early = member("m-42", now=START - timedelta(minutes=11), policy=policy)
    edge = member("m-42", now=START - timedelta(minutes=10), policy=policy)
    late = member("m-42", now=END + timedelta(minutes=10), policy=policy)
    assert (early.reason, edge.reason, late.reason) == (
        Reason.NOT_YET_VALID,
        Reason.GRANTED,
        Reason.EXPIRED,
    )


def test_member_cancelled_booking() -> None:
    """A member whose only covering booking is cancelled is booking_cancelled."""
    assert member("m-42", bookings=[booking(cancelled=True)]).reason is Reason.BOOKING_CANCELLED


def test_member_picks_the_booking_that_admits() -> None:
    """With a cancelled and a confirmed booking both covering now, the confirmed one admits."""
    two = [booking(cancelled=True), booking(booking_id="b-2")]
    d = member("m-42", bookings=two)
    assert (d.reason, d.booking_id) == (Reason.GRANTED, "b-2")


def test_member_revoked_and_malformed() -> None:
    """A revoked member is revoked; an id with bad characters is malformed."""
    state = MemoryState(revoked={(RevocationKind.MEMBER, "m-42")})
    assert member("m-42", state=state).reason is Reason.REVOKED
    bad = member("m 42\ufffd")
    assert (bad.reason, bad.detail) == (Reason.MALFORMED, "member_id")


# --- licence plates (car-park barrier) -----------------------------------------------


def plate(text: str, gate: str = "barrier", now=NOW, **ctx) -> Decision:  # type: ignore[no-untyped-def]
    return decide(PlateCredential(text), gate, now, context(**ctx))


def test_plate_on_booking_opens_barrier() -> None:
    """A plate matching a booking now opens the barrier, whatever the booked zone."""
    d = plate("京A·12345")
    assert (d.granted, d.reason, d.booking_id) == (True, Reason.GRANTED, "b-1")


def test_plate_spelling_is_normalised() -> None:
    """Case, spaces and dashes do not matter."""
    b = replace(booking(), plate="AB12CDE")
    assert plate("ab-12 cde", bookings=[b]).reason is Reason.GRANTED


def test_unknown_plate_and_malformed_plate() -> None:
    """A plate on no booking is no_booking; unreadable text is malformed."""
    assert plate("ZZ999").reason is Reason.NO_BOOKING
    assert plate("\ufffd\ufffd").reason is Reason.MALFORMED
    assert plate("").reason is Reason.MALFORMED


def test_plate_revoked() -> None:
    """A revoked plate is refused."""
    state = MemoryState(revoked={(RevocationKind.PLATE, "京A12345")})
    assert plate("京A12345", state=state).reason is Reason.REVOKED


def test_every_reason_code_is_reachable() -> None:
    """Guard: this module and the limiter/store tests together cover each Reason."""
    covered = {
        qr(mint()).reason,
        qr(b"\xff").reason,
        qr(mint(kid="k-x")).reason,
        qr(mint(), keys=ring(not_after=NOW)).reason,
        qr(mint(key=OTHER_KEY)).reason,
        qr(mint(site="x")).reason,
        qr(mint(), state=MemoryState(revoked={(RevocationKind.PASS, "p-1")})).reason,
        qr(mint(), gate="gate-gym").reason,
        qr(mint(), now=START - timedelta(hours=1)).reason,
        qr(mint(), now=END + timedelta(hours=1)).reason,
        qr(mint(), bookings=[]).reason,
        qr(mint(), bookings=[booking(cancelled=True)]).reason,
        qr(mint(entries=1), state=MemoryState(used={"p-1": PassUsage(1)})).reason,
        qr(
            mint(entries=0), state=MemoryState(used={"p-1": PassUsage(1, Direction.IN, NOW)})
        ).reason,
        member("m-nobody").reason,
        qr(mint(entries=1), counts_lost_at=NOW).reason,
        qr(mint(zones=("hall-a",)), gate="fire-exit", emergency=True).reason,
        refused(Reason.RATE_LIMITED, "g", QrCredential("").kind).reason,
        refused(Reason.STORE_ERROR, "g", QrCredential("").kind).reason,
    }
    assert covered == set(Reason)
