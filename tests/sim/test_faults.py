"""Fault requests are validated before anything is touched: clear errors listing valid choices."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import FaultError
from sim.faults import KINDS, Targets, parse_cli_params, validate

TARGETS = Targets(
    devices={
        "lights-1": "lighting_8ch",
        "gate-1": "gate_controller",
        "fire-1": "fire_panel",
        "meter-1": "energy_meter",
        "hvac-1": "hvac_fancoil",
    },
    modbus_devices=frozenset({"lights-1", "gate-1", "fire-1", "meter-1", "hvac-1"}),
    buses=frozenset({"tcp-gw"}),
)


def test_unknown_kind_lists_every_kind() -> None:
    """A misspelt fault names itself and lists the catalogue."""
    with pytest.raises(FaultError) as err:
        validate("lamp_fail", "lights-1", {}, TARGETS)
    assert err.value.what == "kind"
    assert "lamp_failure" in err.value.choices and "offline" in err.value.choices


def test_unknown_device_lists_the_devices_of_the_right_profile() -> None:
    """An unknown target lists only the devices that fault applies to."""
    with pytest.raises(FaultError) as err:
        validate("door_forced", "gate-9", {}, TARGETS)
    assert err.value.what == "target"
    assert err.value.choices == ["gate-1"]
    assert "gate-9" in str(err.value) and "valid choices: gate-1" in str(err.value)


def test_target_of_the_wrong_profile_says_what_it_is() -> None:
    """A lamp failure on a fan-coil says the device is a fan-coil and what is needed."""
    with pytest.raises(FaultError, match="is a hvac_fancoil, lamp_failure needs a lighting_8ch"):
        validate("lamp_failure", "hvac-1", {"channel": 1}, TARGETS)


def test_missing_and_unknown_and_bad_parameters() -> None:
    """Missing required, unknown names and out-of-range values are each refused by name."""
    with pytest.raises(FaultError) as err:
        validate("lamp_failure", "lights-1", {}, TARGETS)
    assert err.value.what == "channel"
    with pytest.raises(FaultError) as err:
        validate("slow", "lights-1", {"seconds": 1, "speed": 2}, TARGETS)
    assert err.value.what == "params" and err.value.choices == ["seconds"]
    with pytest.raises(FaultError, match="outside 0"):
        validate("slow", "lights-1", {"seconds": "600"}, TARGETS)
    with pytest.raises(FaultError, match="not on/off"):
        validate("offline", "lights-1", {"on": "maybe"}, TARGETS)
    with pytest.raises(FaultError, match="not an integer"):
        validate("lamp_failure", "lights-1", {"channel": "2.5"}, TARGETS)


def test_valid_requests_are_typed_with_defaults() -> None:
    """CLI strings become typed values; `on` defaults to true."""
    req = validate("lamp_failure", "lights-1", {"channel": "3", "on": "off"}, TARGETS)
    assert req.params == {"channel": 3, "on": False}
    assert validate("fire_alarm", "fire-1", {}, TARGETS).params == {"on": True}
    assert validate("meter_rollover", "meter-1", {}, TARGETS).params == {"before_kwh": 1.0}
    assert validate("broker_stop", None, {}, TARGETS).target is None
    assert validate("link_drop", "tcp-gw", {"on": True}, TARGETS).params == {"on": True}


def test_bus_faults_need_a_bus_and_broker_faults_take_no_target() -> None:
    """link_drop on a device, or a target for broker_stop, is refused."""
    with pytest.raises(FaultError) as err:
        validate("link_drop", "lights-1", {}, TARGETS)
    assert err.value.choices == ["tcp-gw"]
    with pytest.raises(FaultError, match="takes no target"):
        validate("broker_stop", "lights-1", {}, TARGETS)


def test_cli_params_parse() -> None:
    """NAME=VALUE pairs and a bare on/off; anything else is refused."""
    assert parse_cli_params(["channel=3", "off"]) == {"channel": "3", "on": "off"}
    with pytest.raises(FaultError):
        parse_cli_params(["three"])
    with pytest.raises(FaultError):
        parse_cli_params(["=3"])


@given(
    kind=st.one_of(st.sampled_from(sorted(KINDS)), st.text(max_size=12)),
    target=st.one_of(
        st.none(), st.sampled_from(["lights-1", "gate-1", "tcp-gw", "all"]), st.text(max_size=8)
    ),
    params=st.dictionaries(
        st.one_of(
            st.sampled_from(["on", "channel", "seconds", "code", "before_kwh"]), st.text(max_size=6)
        ),
        st.one_of(st.text(max_size=6), st.integers(), st.floats(), st.booleans(), st.none()),
        max_size=3,
    ),
)
def test_any_request_is_either_valid_or_a_fault_error(
    kind: str, target: str | None, params: dict[str, object]
) -> None:
    """Whatever arrives on the control socket, validation answers or raises FaultError."""
    try:
        req = validate(kind, target, params, TARGETS)
    except FaultError as exc:
        assert str(exc)
    else:
        assert req.kind in KINDS
        assert set(req.params) == set(KINDS[req.kind].params)


@given(st.lists(st.text(max_size=10), max_size=5))
def test_cli_params_never_crash(items: list[str]) -> None:
    """Any argv tail parses or raises FaultError."""
    with contextlib.suppress(FaultError):
        parse_cli_params(items)
