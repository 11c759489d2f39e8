"""bench/bridge.py's arithmetic and parsers, on hand-made logs (no processes)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bridge_metrics import Change, Read, Seen, analyse, percentile, poll_periods
from bridge_peers import (
    BIRTH_TOPIC,
    PARSERS,
    STATE_TOPIC,
    Setup,
    edged_venue_toml,
    m2m_csv,
    parse_subscriber_line,
)

T0 = 1000.0


def test_percentile_interpolates_and_is_nan_when_empty() -> None:
    """Linear interpolation between ranks; no values gives NaN, not an error."""
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile([0.0, 10.0], 95) == 9.5
    assert math.isnan(percentile([], 50))


def test_latency_read_time_and_missed_change() -> None:
    """A change seen 0.7 s later (0.05 s after the read that saw it) and a change never seen."""
    changes = [Change(T0 + 1.0, 1, 3, 11), Change(T0 + 2.0, 2, 5, 12)]
    reads = [Read(T0 + 0.9, 1), Read(T0 + 1.65, 1), Read(T0 + 2.65, 1), Read(T0 + 2.6, 2)]
    seen = [
        Seen(T0 + 0.2, 1, 3, 0),
        Seen(T0 + 1.7, 1, 3, 11, read_ts=T0 + 1.66),
    ]
    f = analyse(changes, reads, seen, T0, T0 + 10)
    assert (f.changes, f.missed) == (2, 1)
    assert math.isclose(f.change_p99_ms, 700.0)
    assert math.isclose(f.read_p50_ms, 50.0)
    assert f.peer_read_p50_ms is not None and math.isclose(f.peer_read_p50_ms, 40.0)


def test_changes_outside_the_window_are_not_counted() -> None:
    changes = [Change(T0 - 1.0, 1, 0, 1), Change(T0 + 10.0, 1, 1, 2)]
    f = analyse(changes, [], [], T0, T0 + 10)
    assert (f.changes, f.missed) == (0, 0)
    assert math.isnan(f.change_p50_ms)


def test_unchanged_values_count_only_unflagged_repeats_inside_the_window() -> None:
    """A repeat counts; a flagged refresh does not; a quality change is not a repeat."""
    seen = [
        Seen(T0 - 1.0, 1, 0, 7),
        Seen(T0 + 1.0, 1, 0, 7),  # repeat: counts
        Seen(T0 + 2.0, 1, 0, 7, flagged=True),  # flagged refresh: does not
        Seen(T0 + 3.0, 1, 0, 7, quality="stale"),  # quality changed: does not
        Seen(T0 + 4.0, 1, 0, 8),  # a change
        Seen(T0 + 11.0, 1, 0, 8),  # repeat after the window
        Seen(T0 - 2.0, 2, 0, 5, flagged=True),  # birth: the value before any state message
        Seen(T0 + 5.0, 2, 0, 5),  # the same value re-sent: counts
    ]
    f = analyse([], [], seen, T0, T0 + 10)
    assert math.isclose(f.unchanged_per_s, 0.2)
    assert math.isclose(f.values_per_s, 0.5)


def test_poll_periods_are_per_device_and_inside_the_window() -> None:
    reads = [Read(T0 + t, 1) for t in (0.5, 1.5, 2.5)] + [Read(T0 + t, 2) for t in (0.2, 1.7)]
    periods = sorted(poll_periods(reads, T0 + 1.0, T0 + 2.0))
    assert periods == [1.0, 1.5]


def test_generated_configs_name_every_device_and_register() -> None:
    s = Setup(Path("/tmp/x"), 5020, 1883, devices=3, registers=40, poll_s=0.5)
    venue = edged_venue_toml(s)
    assert venue.count("[[devices]]") == 3 and "unit_id = 3" in venue
    assert "poll_interval = 0.5" in venue and "port = 5020" in venue
    rows = m2m_csv(s).splitlines()
    assert rows[1] == "poll,d001,1,0,40,holding_register,0.5"
    assert len(rows) == 1 + 3 * 41


def test_each_peer_parser_reads_its_own_messages() -> None:
    edged = json.dumps(
        {
            "stream": "state",
            "heartbeat": True,
            "points": [
                {
                    "point": "d007.r12",
                    "value": 42,
                    "quality": "good",
                    "ts": "2026-05-01T18:00:00.5Z",
                }
            ],
        }
    )
    (s,) = parse_subscriber_line("edged", f"12.5 {STATE_TOPIC} {edged}\n".encode())
    assert (s.t, s.device, s.register, s.value, s.flagged) == (12.5, 7, 12, 42, True)
    assert s.read_ts == 1777658400.5
    (m,) = parse_subscriber_line("modbus2mqtt", b"3.0 m2m/d002/state/r39 65535\n")
    assert (m.device, m.register, m.value, m.read_ts) == (2, 39, 65535, None)
    (b,) = parse_subscriber_line("bare", b'4.0 bare/d100/r00 {"v": 9, "ts": 3.5}\n')
    assert (b.device, b.register, b.value, b.read_ts) == (100, 0, 9, 3.5)
    birth = {
        "devices": [{"id": "d003", "points": [{"name": "r01", "value": 0, "quality": "good"}]}]
    }
    line = f"2.0 {BIRTH_TOPIC}/part/0 {json.dumps(birth)}".encode()
    (h,) = parse_subscriber_line("edged", line)
    assert (h.device, h.register, h.value, h.flagged) == (3, 1, 0, True)
    assert parse_subscriber_line("edged", b"1.0 edge/v1/bench/gw/status {}\n") == []
    assert parse_subscriber_line("bare", b"1.0 bench/probe probe\n") == []


@given(peer=st.sampled_from(sorted(PARSERS)), line=st.binary(max_size=300))
def test_parsers_never_raise_on_any_line(peer: str, line: bytes) -> None:
    """Whatever the subscriber wrote, a parser returns values or nothing."""
    for s in parse_subscriber_line(peer, line):
        assert isinstance(s, Seen)


@given(
    points=st.lists(
        st.tuples(
            st.integers(1, 247),
            st.integers(0, 99),
            st.one_of(
                st.integers(), st.floats(allow_nan=False), st.none(), st.text(), st.booleans()
            ),
        ),
        max_size=20,
    ),
    junk=st.lists(st.dictionaries(st.text(max_size=5), st.integers(), max_size=3), max_size=3),
)
def test_edged_parser_keeps_every_named_point(
    points: list[tuple[int, int, object]], junk: list[dict[str, int]]
) -> None:
    """Every `dNNN.rNN` point comes back with its value; other entries are skipped."""
    body = {"points": [{"point": f"d{d:03d}.r{r:02d}", "value": v} for d, r, v in points] + junk}
    got = PARSERS["edged"](STATE_TOPIC, json.dumps(body).encode())
    assert [(s.device, s.register, s.value) for s in got] == points
