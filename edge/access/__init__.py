"""Offline access control: signed passes, member and plate credentials, decisions, records.

Public surface (everything else is internal):
- passes: `PassFields`, `SignedPass`, `issue_pass`, `parse_pass`
- keys: `KeyRing`, `IssuerKey`, `public_key_b64`
- context: `SiteAccess`, `GateSpec`, `Direction`, `AccessPolicy`, `BookingView`,
  `BookingLookup`, `AccessState`, `PassUsage`, `RevocationKind`, `DecisionContext`
- credentials: `CredentialKind`, `QrCredential`, `MemberCredential`, `PlateCredential`,
  `credential_from_line`
- decision: `decide`, `Decision`, `Reason`
- store: `AccessStore`, `SCHEMA`
- ratelimit: `ReaderLimiter`, `RateLimitSettings`, `Verdict`
- records: `AccessEvent`, `subject_ref`
- service: `AccessService`, `ReaderSpec`
Wiring (import the submodules directly): `edge.access.from_config` (`site_access`,
`readers`) and `edge.access.booking_index` (`BookingIndex` over edge.bookings).

The names above load at first use (PEP 562): the daemon of a venue without gates
imports the records and keys only, never the decision path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
    from edge.access.decision import Decision, Reason, decide
    from edge.access.errors import AccessError, KeyConfigError, MalformedPass, PassFieldError
    from edge.access.keys import IssuerKey, KeyRing, public_key_b64
    from edge.access.passes import PassFields, SignedPass, issue_pass, parse_pass
    from edge.access.ratelimit import RateLimitSettings, ReaderLimiter, Verdict
    from edge.access.records import AccessEvent, subject_ref
    from edge.access.service import AccessService, ReaderSpec
    from edge.access.store import SCHEMA, AccessStore

_MODULE_OF = {
    "AccessError": "errors",
    "AccessEvent": "records",
    "AccessPolicy": "context",
    "AccessService": "service",
    "AccessState": "context",
    "AccessStore": "store",
    "BookingLookup": "context",
    "BookingView": "context",
    "Credential": "credentials",
    "CredentialKind": "credentials",
    "Decision": "decision",
    "DecisionContext": "context",
    "Direction": "context",
    "GateSpec": "context",
    "IssuerKey": "keys",
    "KeyConfigError": "errors",
    "KeyRing": "keys",
    "MalformedPass": "errors",
    "MemberCredential": "credentials",
    "PassFieldError": "errors",
    "PassFields": "passes",
    "PassUsage": "context",
    "PlateCredential": "credentials",
    "QrCredential": "credentials",
    "RateLimitSettings": "ratelimit",
    "ReaderLimiter": "ratelimit",
    "ReaderSpec": "service",
    "Reason": "decision",
    "RevocationKind": "context",
    "SCHEMA": "store",
    "SignedPass": "passes",
    "SiteAccess": "context",
    "Verdict": "ratelimit",
    "credential_from_line": "credentials",
    "decide": "decision",
    "issue_pass": "passes",
    "parse_pass": "passes",
    "public_key_b64": "keys",
    "subject_ref": "records",
}


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'edge.access' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"edge.access.{module}"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


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
