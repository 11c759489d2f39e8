"""`config check` reports every problem in one run: types, unknown keys, ranges and the
references between sections, each with the file's path, and nothing that only echoes
another problem."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from edge.config.errors import ConfigError, Problem
from edge.venue import Venue, venue_from_bytes, venue_from_data
from tests.cli.venue import ENV

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "examples" / "venue.toml").read_text(encoding="utf-8")
DEVICES = [d["id"] for d in tomllib.loads(EXAMPLE)["devices"]]


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` (a test that edits nothing proves nothing)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


def config_check(path: Path) -> tuple[int, list[dict[str, str]]]:
    """Run the real `edgectl --json config check` and return its exit code and problems."""
    edgectl = Path(sys.executable).with_name("edgectl")
    argv = [str(edgectl)] if edgectl.exists() else [sys.executable, "-m", "edge.cli.main"]
    out = subprocess.run(
        [*argv, "--json", "config", "check", str(path)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    body = json.loads(out.stdout)
    return out.returncode, body.get("problems", [])


def problems_of(text: str) -> list[str]:
    try:
        venue_from_bytes(text.encode(), "venue.toml")
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_example_is_clean(tmp_path: Path) -> None:
    """The starting point has no problem (so each one below is the edit's)."""
    path = tmp_path / "venue.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert config_check(path) == (0, [])


def test_five_independent_mistakes_in_one_run(tmp_path: Path) -> None:
    """A bad type, an unknown key, a value out of range, an unknown zone and a device on an
    unknown bus: all five in one `edgectl config check`, exit 78, each with path and fix."""
    text = edit(EXAMPLE, "port = 8883", 'port = "8883"')
    text = edit(text, 'name = "Workers', 'nmae = "Workers')
    text = edit(text, "unit_id = 52\n", "unit_id = 520\n")
    text = edit(text, 'zone = "gate-park"', 'zone = "gate-prak"')
    text = edit(text, 'bus = "fire-gw"', 'bus = "fire-gww"')
    path = tmp_path / "venue.toml"
    path.write_text(text, encoding="utf-8")
    code, problems = config_check(path)
    assert code == 78
    meter, barrier, fire = (DEVICES.index(d) for d in ("meter-main", "gate-park", "fire-panel"))
    assert {(p["path"], p["message"], p["hint"]) for p in problems} == {
        ("uplink.port", "expected an integer 1..65535, got '8883'", ""),
        ("site.nmae", "unknown key", "did you mean 'name'?"),
        (f"devices[{meter}].unit_id", "expected an integer 1..247, got 520", ""),
        (f"devices[{barrier}].zone", "unknown zone 'gate-prak'", "did you mean 'gate-park'?"),
        (f"devices[{fire}].bus", "unknown bus 'fire-gww'", "did you mean 'fire-gw'?"),
    }
    assert len(problems) == 5


def test_edged_refuses_the_same_file_with_all_five(tmp_path: Path) -> None:
    """edged at start reports the same five problems (one log event each) and exits 78."""
    text = edit(EXAMPLE, "port = 8883", 'port = "8883"')
    text = edit(text, 'name = "Workers', 'nmae = "Workers')
    text = edit(text, "unit_id = 52\n", "unit_id = 520\n")
    text = edit(text, 'zone = "gate-park"', 'zone = "gate-prak"')
    text = edit(text, 'bus = "fire-gw"', 'bus = "fire-gww"')
    path = tmp_path / "venue.toml"
    path.write_text(text, encoding="utf-8")
    edged = Path(sys.executable).with_name("edged")
    argv = [str(edged)] if edged.exists() else [sys.executable, "-m", "edge.daemon"]
    out = subprocess.run(
        [*argv, "--config", str(path)], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 78
    events = [
        json.loads(line) for line in (out.stdout + out.stderr).splitlines() if line[:1] == "{"
    ]
    found = [e["problem"].split(":")[0] for e in events if e.get("event") == "config_problem"]
    assert sorted(found) == sorted(
        [
            "site.nmae",
            "uplink.port",
            f"devices[{DEVICES.index('meter-main')}].unit_id",
            f"devices[{DEVICES.index('gate-park')}].zone",
            f"devices[{DEVICES.index('fire-panel')}].bus",
        ]
    )


def test_profiles_roles_gates_and_rules_beside_type_errors(tmp_path: Path) -> None:
    """An unknown profile, a zone's HVAC without the HVAC roles (one problem per role), a
    gate on an unknown device and a rule naming an unknown output come out beside a type
    error, in the same run."""
    text = edit(EXAMPLE, 'profile = "fire_panel"', 'profile = "fire_panl"')
    text = edit(text, 'hvac = ["fcu-lobby1", "fcu-lobby2"]', 'hvac = ["fcu-lobby1", "env-lobby"]')
    text = edit(text, 'device = "gate-staff"', 'device = "gate-stuff"')
    text = edit(
        text,
        '{ output = "fcu-lobby1.on", value = true }',
        '{ output = "fcu-lobby1.onn", value = true }',
    )
    text = edit(text, "early_entry_min = 15.0", 'early_entry_min = "15"')
    path = tmp_path / "venue.toml"
    path.write_text(text, encoding="utf-8")
    code, problems = config_check(path)
    assert code == 78
    zones = [z["id"] for z in tomllib.loads(EXAMPLE)["zones"]]
    assert [p["path"] for p in problems] == [
        "access.early_entry_min",
        f"devices[{DEVICES.index('fire-panel')}].profile",
        "access.gates[1].device",
        f"zones[{zones.index('lobby')}].hvac[1]",
        f"zones[{zones.index('lobby')}].hvac[1]",
        "rules.schedules[0].outputs[12].output",
    ]
    assert all(p["message"] for p in problems)
    assert "did you mean 'gate-staff'?" in problems[2]["hint"]
    assert "role hvac.enable" in problems[3]["message"]
    assert "role hvac.setpoint" in problems[4]["message"]
    assert "unknown output 'fcu-lobby1.onn'" in problems[5]["message"]


BASE = """
[site]
id = "test-site"
gateway = "gw-1"
timezone = "Asia/Shanghai"

[[zones]]
id = "court-1"
kind = "court"
lights = ["lights-1.ch1_on"]

[[zones]]
id = "gate-1"
kind = "gate"

[[buses]]
id = "tcp-1"
kind = "modbus_tcp"
host = "127.0.0.1"
port = 15020

[[buses]]
id = "qr-1"
kind = "serial_line"
port = "/dev/ttyUSB9"
role = "qr_scanner"
gate = "main"

[[devices]]
id = "lights-1"
profile = "lighting_8ch"
bus = "tcp-1"
unit_id = 1
zone = "court-1"

[[devices]]
id = "door-1"
profile = "gate_controller"
bus = "tcp-1"
unit_id = 2
zone = "gate-1"

[[access.gates]]
id = "main"
device = "door-1"
zones = ["court-1"]

[[rules.schedules]]
id = "evening"
outputs = [{ output = "lights-1.ch2_on", value = true }]

[rules.schedules.weekly]
mon = ["18:00-22:00"]
"""


def test_base_is_valid() -> None:
    """The fuzz base decodes (so the property below mutates a valid config)."""
    assert isinstance(venue_from_data(tomllib.loads(BASE), "base"), Venue)


def test_a_broken_item_does_not_shift_the_paths_after_it() -> None:
    """A bus of unknown kind is left out, yet the next bus's problem keeps its own index,
    and the devices on the left-out bus are not reported again."""
    text = edit(BASE, 'kind = "modbus_tcp"', 'kind = "modbus_tpc"')
    text = edit(text, 'gate = "main"', 'gate = "mian"')
    got = problems_of(text)
    assert len(got) == 2
    assert got[0].startswith("buses[0].kind: expected one of")
    assert got[1] == "buses[1].gate: unknown gate 'mian' (did you mean 'main'?)"


def test_a_device_that_is_no_table_hides_no_other() -> None:
    """`devices` holding a string: that entry is reported, the next device still checked."""
    data = tomllib.loads(BASE)
    data["devices"].insert(0, "lights-2")
    data["devices"][2]["zone"] = "court-9"
    try:
        venue_from_data(data, "venue.toml")
    except ConfigError as exc:
        got = [str(p) for p in exc.problems]
    assert got == [
        "devices[0]: expected a table, got a string",
        "devices[2].zone: unknown zone 'court-9' (did you mean 'court-1'?)",
    ]


def test_a_bad_required_key_is_not_echoed() -> None:
    """A device's profile of the wrong type is one problem: its points are not also unknown
    to the zone, the rules or the gate."""
    text = edit(BASE, 'profile = "lighting_8ch"', "profile = 8")
    assert problems_of(text) == ["devices[0].profile: expected a string, got an integer 8"]
    text = edit(BASE, 'profile = "gate_controller"', "profile = 8")
    assert problems_of(text) == ["devices[1].profile: expected a string, got an integer 8"]


def test_a_renamed_id_is_a_real_reference_problem() -> None:
    """A device id of the wrong type leaves the gate naming a device that is not there."""
    text = edit(BASE, 'id = "door-1"', "id = 7")
    assert problems_of(text) == [
        "devices[1].id: expected a string, got an integer 7",
        "access.gates[0].device: unknown device 'door-1' (declare it under [[devices]])",
    ]


def test_a_single_bracket_list_is_one_problem() -> None:
    """`[zones]` written for `[[zones]]`: one problem with the fix, not an unknown zone for
    every device; likewise for buses, devices and gates."""
    for key in ("zones", "buses", "devices", "access.gates"):
        data = tomllib.loads(BASE)
        parent = data["access"] if key == "access.gates" else data
        name = key.rsplit(".", 1)[-1]
        parent[name] = parent[name][0]
        try:
            venue_from_data(data, "venue.toml")
        except ConfigError as exc:
            got = [str(p) for p in exc.problems]
        assert got == [
            f"{key}: expected a list, got a table (write each item under its own [[{key}]])"
        ]


# --- property: any mutation gives problems or a venue, never another exception ----------

BASE_DATA = tomllib.loads(BASE)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=10),
    st.sampled_from(["", "court", "tcp-1", "qr-1", "main", "lights-1", "door-1.relay", "gpio"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
edits = st.tuples(
    st.lists(st.integers(0, 20), min_size=1, max_size=5),
    st.sampled_from(["delete", "retype", "rename", "near_miss"]),
    values,
)


def _apply(data: object, path: list[int], op: str, value: object) -> object:
    """`data` with one key or item deleted, given another value, or renamed."""
    if not isinstance(data, dict | list) or not data:
        return data
    i = path[0] % len(data)
    if isinstance(data, list):
        new_list = list(data)
        if len(path) > 1:
            new_list[i] = _apply(data[i], path[1:], op, value)
        elif op == "delete":
            del new_list[i]
        else:
            new_list[i] = value
        return new_list
    key = list(data)[i]
    new = dict(data)
    if len(path) > 1 and isinstance(data[key], dict | list):
        new[key] = _apply(data[key], path[1:], op, value)
    elif op == "delete":
        del new[key]
    elif op == "retype":
        new[key] = value
    else:
        renamed = key[:-1] if op == "near_miss" else str(value)[:12]
        new[renamed or "x"] = new.pop(key)
    return new


def _path_fits(data: object, path: str) -> bool:
    """Every index in `path` names an item that is in the file."""
    here = data
    for key, index, quoted in re.findall(r'\.?([^.\["]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]', path):
        key = json.loads(quoted) if quoted else key
        if index:
            if not isinstance(here, list) or int(index) >= len(here):
                return False
            here = here[int(index)]
        elif isinstance(here, dict) and key in here:
            here = here[key]
        else:
            return True  # a missing key, or a dict key with a dot in it
    return True


def check_mutation(data: object) -> list[Problem]:
    try:
        venue_from_data(data, "fuzz")
    except ConfigError as exc:
        problems = exc.problems
        assert problems
        for p in problems:
            assert p.path and p.message, p
            assert _path_fits(data, p.path), p
        return problems
    return []


@given(st.lists(edits, min_size=1, max_size=4))
def test_mutations_give_problems_or_a_venue(changes: list[tuple[list[int], str, object]]) -> None:
    """Deleting, retyping or renaming keys of a valid config yields a venue or problems
    (each with a path into the file and a message); nothing else is raised."""
    data: object = BASE_DATA
    for path, op, value in changes:
        data = _apply(data, path, op, value)
    check_mutation(data)
