"""A decision as its access event: the subject only as a keyed hash (`subject_ref`)."""

from __future__ import annotations

from datetime import datetime

from edge.access.credentials import (
    Credential,
    MemberCredential,
    PlateCredential,
    normalise_plate,
    valid_member_id,
)
from edge.access.decision import Decision
from edge.access.records import AccessEvent, subject_ref


def subject_of(credential: Credential, salt: bytes) -> str | None:
    if isinstance(credential, MemberCredential) and valid_member_id(credential.member_id):
        return subject_ref("m", credential.member_id, salt)
    if isinstance(credential, PlateCredential):
        plate = normalise_plate(credential.plate)
        return None if plate is None else subject_ref("p", plate, salt)
    return None


def access_event(
    decision: Decision,
    credential: Credential,
    *,
    reader: str,
    ts: datetime,
    latency_ms: float,
    salt: bytes,
) -> AccessEvent:
    return AccessEvent(
        ts=ts,
        reader=reader,
        gate=decision.gate,
        kind=decision.kind.value,
        granted=decision.granted,
        reason=decision.reason.value,
        direction=None if decision.direction is None else decision.direction.value,
        pass_id=decision.pass_id,
        booking_id=decision.booking_id,
        subject=subject_of(credential, salt),
        latency_ms=round(latency_ms, 3),
        detail=decision.detail,
    )
