"""'Did you mean' for ids a technician or the cloud typed: the typed device first."""

from __future__ import annotations

from collections.abc import Iterable

SHOWN = 3


def suggest(name: str, known: Iterable[str], listing: str = "edgectl points") -> str:
    """A hint naming up to three known ids close to `name`, or where to list them.

    Ids that start with what was typed come first (`lights-a2` -> its points), then ids
    of the same device (`lights-a2.ch9_on` -> `lights-a2.ch1_on`), then look-alikes.
    """
    import difflib  # only for a mistake: kept out of the running daemon

    items = sorted(set(known))
    device = name.partition(".")[0]
    ranked = [k for k in items if k.startswith(name) and k != name]
    if "." in name:
        ranked += [k for k in items if k.partition(".")[0] == device and k not in ranked]
        same = [k for k in ranked if k.partition(".")[0] == device]
        close = difflib.get_close_matches(name, same, n=SHOWN, cutoff=0.0)
        ranked = close + [k for k in ranked if k not in close]
    if not ranked:
        ranked = difflib.get_close_matches(name, items, n=SHOWN)
    shown = ranked[:SHOWN]
    return f"did you mean {', '.join(shown)}?" if shown else f"see `{listing}`"
