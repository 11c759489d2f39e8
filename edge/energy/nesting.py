"""Which meter is downstream of which (main meters and their sub-meters), pure.

A hall's main meter also counts what its courts' lighting meters count. Booking energy
must not count that twice, so a meter's *own* energy is its reading less the readings of
the meters directly downstream of it. Unless `[energy] nested_meters = false`, a meter is
taken to be downstream of the one meter of the nearest zone above its own that has
meters; `[energy] upstream` names it explicitly (`""`: none), and is required when that
zone has several meters.
"""

from __future__ import annotations

from collections.abc import Mapping


def upstream_meters(
    meter_zone: Mapping[str, str | None],
    parents: Mapping[str, str | None],
    explicit: Mapping[str, str],
    infer: bool,
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(meter -> the meter directly upstream of it, problems as (config path, message))."""
    problems: list[tuple[str, str]] = []
    out: dict[str, str] = {}
    in_zone: dict[str, list[str]] = {}
    for m, z in sorted(meter_zone.items()):
        if z is not None:
            in_zone.setdefault(z, []).append(m)
    for m, up in sorted(explicit.items()):
        path = f"energy.upstream.{m}"
        if m not in meter_zone:
            problems.append(
                (
                    path,
                    f"{m!r} is not a meter; meters: {sorted(meter_zone)}",
                )
            )
        elif up == "":
            continue
        elif up not in meter_zone:
            problems.append(
                (
                    path,
                    f"{up!r} is not a meter; meters: {sorted(meter_zone)}",
                )
            )
        elif up == m:
            problems.append((path, "a meter cannot be upstream of itself"))
        else:
            out[m] = up
    if infer:
        for m, z in sorted(meter_zone.items()):
            if m in explicit or z is None:
                continue
            above = _nearest_metered_above(z, parents, in_zone)
            if above is None:
                continue
            candidates = in_zone[above]
            if len(candidates) == 1:
                out[m] = candidates[0]
            else:
                problems.append((
                    f"energy.upstream.{m}",
                    f"zone {above!r} above {m!r} has several meters {candidates}: say which one"
                    f" counts {m!r} too, e.g. [energy.upstream] {m} = \"{candidates[0]}\""
                    " (\"\" for none)",
                ))  # fmt: skip
    for m in sorted(out):
        seen = [m]
        cur = out.get(m)
        while cur is not None:
            if cur in seen:
                problems.append(
                    (f"energy.upstream.{m}", f"meters form a loop: {' -> '.join([*seen, cur])}")
                )
                break
            seen.append(cur)
            cur = out.get(cur)
    return out, problems


def _nearest_metered_above(
    zone: str, parents: Mapping[str, str | None], in_zone: Mapping[str, list[str]]
) -> str | None:
    seen = {zone}
    p = parents.get(zone)
    while p is not None and p not in seen:
        if p in in_zone:
            return p
        seen.add(p)
        p = parents.get(p)
    return None


def downstream(upstream: Mapping[str, str]) -> dict[str, list[str]]:
    """meter -> the meters directly downstream of it."""
    out: dict[str, list[str]] = {}
    for m, up in sorted(upstream.items()):
        out.setdefault(up, []).append(m)
    return out
