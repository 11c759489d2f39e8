"""Offline access control: signed passes, member and plate credentials, decisions, records.

Public surface (everything else is internal):
- passes: `PassFields`, `SignedPass`, `issue_pass`, `parse_pass`
- keys: `KeyRing`, `IssuerKey`, `public_key_b64`
- context: `SiteAccess`, `GateSpec`, `Direction`, `AccessPolicy`, `BookingView`,
  `BookingLookup`, `AccessState`, `PassUsage`, `RevocationKind`, `DecisionContext`
- credentials: `CredentialKind`, `QrCredential`, `MemberCredential`, `PlateCredential`,
  `credential_from_line`
- decide: `decide`, `Decision`, `Reason`
- store: `AccessStore`, `SCHEMA`
- ratelimit: `ReaderLimiter`, `RateLimitSettings`, `Verdict`
- records: `AccessEvent`, `subject_ref`
- service: `AccessService`, `ReaderSpec`
Wiring (import the submodules directly): `edge.access.from_config` (`site_access`,
`readers`) and `edge.access.booking_index` (`BookingIndex` over edge.bookings).
"""

from edge.access.context import (
    AccessPolicy,
    AccessState,
    BookingLookup,
    BookingView,
    DecisionContext,
    Direction,
    GateSpec,
    PassUsage,
    RevocationKind,
    SiteAccess,
)
from edge.access.credentials import (
    Credential,
    CredentialKind,
    MemberCredential,
    PlateCredential,
    QrCredential,
    credential_from_line,
)
from edge.access.decide import Decision, Reason, decide
from edge.access.errors import AccessError, KeyConfigError, MalformedPass, PassFieldError
from edge.access.keys import IssuerKey, KeyRing, public_key_b64
from edge.access.passes import PassFields, SignedPass, issue_pass, parse_pass
from edge.access.ratelimit import RateLimitSettings, ReaderLimiter, Verdict
from edge.access.records import AccessEvent, subject_ref
from edge.access.service import AccessService, ReaderSpec
from edge.access.store import SCHEMA, AccessStore

__all__ = [
    "SCHEMA",
    "AccessError",
    "AccessEvent",
    "AccessPolicy",
    "AccessService",
    "AccessState",
    "AccessStore",
    "BookingLookup",
    "BookingView",
    "Credential",
    "CredentialKind",
    "Decision",
    "DecisionContext",
    "Direction",
    "GateSpec",
    "IssuerKey",
    "KeyConfigError",
    "KeyRing",
    "MalformedPass",
    "MemberCredential",
    "PassFieldError",
    "PassFields",
    "PassUsage",
    "PlateCredential",
    "QrCredential",
    "RateLimitSettings",
    "ReaderLimiter",
    "ReaderSpec",
    "Reason",
    "RevocationKind",
    "SignedPass",
    "SiteAccess",
    "Verdict",
    "credential_from_line",
    "decide",
    "issue_pass",
    "parse_pass",
    "public_key_b64",
    "subject_ref",
]
