"""Run the real `edged` with one more profile directory: the bench's 40-register device.

edged finds device profiles only in `drivers/profiles/` (`drivers.modbus.profiles.PROFILE_DIR`,
no search path, no config key), and per-device overrides can change a profile's points but
not add any: no shipped profile has 40 polled registers. So bench/bridge.py writes a profile
directory (the shipped profiles plus `bench_hr40.toml`) and starts edged through this
launcher, which points the profile lookup at that directory and then calls the daemon's `main`
through `edge.edged.load` with the remaining arguments: the same code and imports as the
`edged` console script, in one process, with nothing else changed.

Usage: python bench/bridge_edged.py PROFILE_DIR --config VENUE.toml [edged options]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    if len(sys.argv) < 2 or not Path(sys.argv[1]).is_dir():
        print("usage: bridge_edged.py PROFILE_DIR --config VENUE.toml [...]", file=sys.stderr)
        return 2
    profiles = Path(sys.argv[1]).resolve()
    from edge.edged import load  # as the console script: `rich` hidden during the import

    edged_main = load()
    import drivers.modbus.profiles as lookup

    # Both lookups take the directory as a default argument, bound when they were defined.
    lookup.PROFILE_DIR = profiles
    lookup.list_profiles.__defaults__ = (profiles,)
    lookup.load_profile.__defaults__ = (profiles,)
    return edged_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
