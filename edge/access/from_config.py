"""Build the access settings from the decoded venue config (edge.config.model)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from edge.access.context import AccessPolicy, Direction, GateSpec, SiteAccess
from edge.access.credentials import CredentialKind
from edge.access.keys import KeyRing
from edge.access.service import ReaderSpec
from edge.config.model import SerialLineBus, TcpLineBus, VenueConfig

READER_KINDS = {
    "qr_scanner": CredentialKind.QR,
    "face_terminal": CredentialKind.MEMBER,
    "card_reader": CredentialKind.MEMBER,
    "plate_camera": CredentialKind.PLATE,
}


def site_access(
    cfg: VenueConfig, *, passback_window_s: float | None = None, trust_unknown_booking: bool = False
) -> SiteAccess:
    """Keys, gates (zones expanded to their sub-zones) and policy; raises KeyConfigError."""
    parents = {z.id: z.parent for z in cfg.zones}
    gates = []
    for g in cfg.access.gates:
        direction = Direction(g.direction)
        gates.append(GateSpec(g.id, with_descendants(g.zones, parents), direction, g.egress))
    policy = AccessPolicy(
        early_entry_s=cfg.access.early_entry_min * 60,
        late_grace_s=cfg.access.late_grace_min * 60,
        passback_window_s=(
            cfg.access.passback_window_min * 60 if passback_window_s is None else passback_window_s
        ),
        trust_unknown_booking=trust_unknown_booking,
    )
    return SiteAccess.build(cfg.site.id, KeyRing.from_config(cfg.access.keys), gates, policy)


def readers(cfg: VenueConfig) -> list[ReaderSpec]:
    """One ReaderSpec per credential line, serial or TCP (reader id = bus id)."""
    return [
        ReaderSpec(bus.id, bus.gate, READER_KINDS[bus.role])
        for bus in cfg.buses
        if isinstance(bus, SerialLineBus | TcpLineBus)
    ]


def with_descendants(zones: Iterable[str], parents: Mapping[str, str | None]) -> frozenset[str]:
    """A gate into a hall admits to the hall's courts: add every zone below the given ones."""
    result = set(zones)
    changed = True
    while changed:  # parent cycles are refused by the config loader; this still terminates
        changed = False
        for zone, parent in parents.items():
            if parent in result and zone not in result:
                result.add(zone)
                changed = True
    return frozenset(result)
