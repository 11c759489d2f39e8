"""Venue config validation: every problem at once, each with a path and a hint."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.config.errors import ConfigError
from edge.config.load import load, parse
from edge.profiles import ProfileBook, profile_points
from edge.venue import venue_from_bytes
from tests.foundation.configs import minimal

BASE = minimal(Path("/tmp/edge-test-state"), Path("/tmp/edge-test-run"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        venue_from_bytes(text.encode(), "venue.toml")
    return [str(p) for p in err.value.problems]


def test_minimal_config_is_valid() -> None:
    """The base config used across tests decodes into typed structs."""
    cfg = parse(BASE.encode(), "venue.toml", profile_points)
    assert cfg.site.id == "test-site"
    assert cfg.devices[0].unit_id == 1


BAD_CONFIGS = [
    ("", ["file is empty (start from examples/venue.toml)"]),
    ("[site\nid=1", None),  # not TOML: checked by prefix below
    (
        BASE.replace("unit_id = 1", "unit_id = 300"),
        ["devices[0].unit_id: expected an integer 1..247, got 300"],
    ),
    (
        BASE.replace('kind = "court"', 'kind = "courtt"'),
        [
            "zones[0].kind: expected one of 'car_park', 'court', 'exhibition', 'gate', 'hall', "
            "'lobby', 'reading_room', 'room', 'training', got 'courtt'"
        ],
    ),
    (
        BASE.replace('gateway = "gw-1"', 'gateway = "gw-1"\ngatway = "x"'),
        ["site.gatway: unknown key (did you mean 'gateway'?)"],
    ),
    (
        BASE.replace('bus = "tcp-1"', 'bus = "tcp-2"'),
        ["devices[0].bus: unknown bus 'tcp-2' (did you mean 'tcp-1'?)"],
    ),
    (
        BASE.replace('zone = "court-1"', 'zone = "court-9"'),
        ["devices[0].zone: unknown zone 'court-9' (did you mean 'court-1'?)"],
    ),
    (
        BASE.replace('profile = "lighting_8ch"', 'profile = "lighting_9ch"'),
        [
            "devices[0].profile: unknown profile 'lighting_9ch' "
            "(profiles live in drivers/profiles/ and in the directories of profile_dirs)"
        ],
    ),
    (
        BASE.replace('lights = ["lights-1.ch1_on"]', 'lights = ["lights-2.ch1_on"]'),
        [
            "zones[0].lights[0]: output 'lights-2.ch1_on' is served by no device "
            "(declare device 'lights-2' under [[devices]])"
        ],
    ),
    (
        BASE.replace('lights = ["lights-1.ch1_on"]', 'lights = ["lights-1.ch1_onn"]'),
        ["zones[0].lights[0]: unknown point 'ch1_onn' (did you mean 'ch1_on'?)"],
    ),
    (
        BASE
        + '\n[[devices]]\nid = "lights-1"\nprofile = "lighting_8ch"\nbus = "tcp-1"\nunit_id = 1\n',
        [
            "devices[0].id: duplicate device id 'lights-1' (ids must be unique)",
            "devices[1].id: duplicate device id 'lights-1' (ids must be unique)",
            "devices[1].unit_id: unit 1 on bus 'tcp-1' is already device 'lights-1' "
            "(give each device on a bus its own unit id)",
        ],
    ),
    (
        BASE.replace('timezone = "Asia/Shanghai"', 'timezone = "Asia/Shanghia"'),
        [
            "site.timezone: unknown timezone 'Asia/Shanghia' "
            "(use an IANA name such as 'Asia/Shanghai')"
        ],
    ),
    (
        BASE.replace("port = 15020", 'port = "502"'),
        ["buses[0].port: expected an integer 1..65535, got '502'"],
    ),
    (
        BASE.replace('kind = "modbus_tcp"', 'kind = "modbus_tpc"'),
        [
            "buses[0].kind: expected one of 'modbus_tcp', 'modbus_rtu', 'modbus_rtu_tcp', "
            "'serial_line', 'tcp_line', 'gpio', 'network', got 'modbus_tpc'"
        ],
    ),
    (
        BASE.replace("unit_id = 1\n", "unit_id = 1\npoints = { ch1_on = { address = -5 } }\n"),
        None,  # an override the profile rejects: checked by prefix below
    ),
    (
        BASE + '\n[uplink]\nca_file = "/nonexistent/ca.pem"\n',
        ["uplink.ca_file: file '/nonexistent/ca.pem' does not exist"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_messages(text: str, expected: list[str] | None) -> None:
    """Each bad config gets exactly these messages, naming the path and the fix."""
    got = problems_of(text)
    if expected is not None:
        assert got == expected
    else:
        assert len(got) == 1 and got[0]


def test_not_toml_names_the_line() -> None:
    """A syntax error says it is not TOML and where."""
    got = problems_of("[site\nid=1")
    assert got[0].startswith("not valid TOML:") and "line 1" in got[0]


def test_override_rejected_by_profile() -> None:
    """A point override the profile's schema rejects is reported under devices[i].points."""
    text = BASE.replace("unit_id = 1\n", "unit_id = 1\npoints = { ch1_on = { address = -5 } }\n")
    got = problems_of(text)
    assert got[0].startswith("devices[0].points:") and "address" in got[0]


def test_all_errors_reported_at_once() -> None:
    """Three independent mistakes give three problems in one error."""
    text = (
        BASE.replace("unit_id = 1", "unit_id = 0")
        .replace('kind = "court"', 'kind = "pitch"')
        .replace("port = 15020", "port = 0")
    )
    got = problems_of(text)
    assert len(got) == 3
    assert {g.split(":")[0] for g in got} == {
        "zones[0].kind",
        "buses[0].port",
        "devices[0].unit_id",
    }


def test_missing_file_and_unreadable(tmp_path: Path) -> None:
    """A missing config file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(tmp_path / "bin.toml")


def test_config_is_frozen() -> None:
    """Nothing can edit a decoded config."""
    cfg = parse(BASE.encode(), "venue.toml", profile_points)
    with pytest.raises(AttributeError):
        cfg.site.id = "other"  # type: ignore[misc]


# --- fuzz: the validator raises only ConfigError, and every problem has a path or reason ---

BASE_DATA = tomllib.loads(BASE)
toml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["", "court", "tcp-1", "lights-1", "x.y", "modbus_rtu"]),
)
values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _mutate(data: object, path: list[object], value: object) -> object:
    if not path:
        return value
    head, *rest = path
    if isinstance(data, dict):
        keys = list(data)
        key = keys[int(head) % len(keys)] if keys and isinstance(head, int) else head  # type: ignore[call-overload]
        new = dict(data)
        new[key] = _mutate(data.get(key), rest, value)
        return new
    if isinstance(data, list) and data:
        i = int(head) % len(data) if isinstance(head, int) else 0
        new_list = list(data)
        new_list[i] = _mutate(data[i], rest, value)
        return new_list
    return value


@given(
    path=st.lists(st.one_of(st.integers(0, 10), st.text(max_size=6)), min_size=1, max_size=4),
    value=values,
)
def test_fuzzed_configs_fail_only_with_config_error(path: list[object], value: object) -> None:
    """Random mutations of a valid config never raise anything but ConfigError with paths."""
    from edge.config.decode import decode_all
    from edge.config.load import check
    from edge.config.model import VenueConfig

    data = _mutate(BASE_DATA, path, value)
    cfg, problems = decode_all(data, VenueConfig)
    if cfg is not None:
        problems = check(cfg, profile_points)
    for p in problems:
        assert p.message
        assert p.path or p.message.startswith(("expected", "file", "not", "unknown"))


def test_device_report_every_reaches_the_bus() -> None:
    """`report_every` (how often an unchanged value is reported again) is the bus's heartbeat_s."""
    from edge.field.buses import device_configs, modbus_buses

    cfg = parse(BASE.replace("unit_id = 1", "unit_id = 1\nreport_every = 5.0").encode(), "v", None)
    assert device_configs(cfg, modbus_buses(cfg)[0], ProfileBook())[0].heartbeat_s == 5.0
    default = parse(BASE.encode(), "v", None)
    assert device_configs(default, modbus_buses(default)[0], ProfileBook())[0].heartbeat_s == 60.0
    assert problems_of(BASE.replace("unit_id = 1", "unit_id = 1\nreport_every = 0")) == [
        "devices[0].report_every: expected a number 0.05..86400, got 0"
    ]


def test_unusable_keys_are_refused_at_load_with_their_path() -> None:
    """A pass or command key that cannot be used is a config problem, not a component that
    fails after start; an expiry without a timezone too."""
    problems = problems_of(
        BASE
        + '\n[[access.keys]]\nkid = "issuer-1"\npublic_key = "not base64!"\n'
        + '\n[[uplink.command_keys]]\nkid = "cloud-1"\n'
        + 'public_key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="\n'
        + 'not_after = "2027-01-01T00:00:00"\n'
    )
    assert len(problems) == 2
    assert problems[0].startswith("access.keys[0]: ") and "not base64" in problems[0]
    assert problems[1].startswith("uplink.command_keys[0]: ") and "timezone" in problems[1]


def test_command_key_expiry_reaches_the_uplink() -> None:
    """A command key's not_after is honoured by the command check of the venue in force."""
    from datetime import UTC, datetime

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.cloud_commands import CurrentVerifier
    from edge.uplink import CommandRefused
    from edge.uplink.signing import public_key_b64, sign
    from edge.venue import VenueRef

    key = Ed25519PrivateKey.generate()
    venue = venue_from_bytes(
        (
            BASE
            + '\n[[uplink.command_keys]]\nkid = "cloud-1"\n'
            + f'public_key = "{public_key_b64(key)}"\n'
            + 'not_after = "2027-01-01T00:00:00Z"\n'
        ).encode(),
        "v",
    )
    check = CurrentVerifier(VenueRef(venue)).check
    topic = "edge/v1/test-site/gw-1/cmd/rebirth"
    body = sign(topic, {"cmd_id": "c1", "expires_at": "2026-06-01T00:00:00Z"}, key, "cloud-1")
    check(topic, body, datetime(2026, 5, 1, tzinfo=UTC))
    with pytest.raises(CommandRefused) as err:
        check(topic, body, datetime(2027, 2, 1, tzinfo=UTC))
    assert err.value.code == "key_expired"
    with pytest.raises(CommandRefused) as err:
        check(topic, {"cmd_id": "c2", "expires_at": "2026-06-01T00:00:00Z"}, datetime.now(UTC))
    assert err.value.code == "signature_required"
