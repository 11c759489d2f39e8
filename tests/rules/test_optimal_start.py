"""Optimal start learner: rates, averaging window, dead band, cap, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from rules.optimal_start import LearnedRates, OptimalStartConfig, lead_time, observe, rate

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_default_rate_until_learned() -> None:
    """With nothing learned, 6 K to go at the default 3 K/h is a 2 h lead."""
    assert lead_time(LearnedRates(), "hall", 19.0, 25.0) == timedelta(hours=2)


def test_learned_rate_is_average_of_window_per_mode() -> None:
    """Heating observations average; cooling ones are kept apart."""
    s = observe(LearnedRates(), "hall", 17.0, 25.0, 4 * 3600, T0)  # 2 K/h
    s = observe(s, "hall", 21.0, 25.0, 1 * 3600, T0 + timedelta(days=1))  # 4 K/h
    s = observe(s, "hall", 30.0, 25.0, 1 * 3600, T0 + timedelta(days=2))  # cool 5 K/h
    assert rate(s, "hall", "heat") == 3.0
    assert rate(s, "hall", "cool") == 5.0
    assert lead_time(s, "hall", 28.0, 25.0) == timedelta(minutes=36)


def test_old_observations_are_forgotten() -> None:
    """Observations older than window_days before the newest are dropped."""
    s = observe(LearnedRates(), "hall", 17.0, 25.0, 8 * 3600, T0)  # 1 K/h
    s = observe(s, "hall", 21.0, 25.0, 3600, T0 + timedelta(days=20))  # 4 K/h
    assert rate(s, "hall", "heat") == 4.0


def test_dead_band_and_cap() -> None:
    """Within 0.5 K no pre-start; a huge gap is capped at 3 h."""
    assert lead_time(LearnedRates(), "hall", 24.6, 25.0) == timedelta(0)
    assert lead_time(LearnedRates(), "hall", 5.0, 25.0) == timedelta(hours=3)


def test_useless_observations_are_ignored() -> None:
    """Zero duration, tiny deltas and NaN leave the state unchanged."""
    s = LearnedRates()
    assert observe(s, "hall", 20.0, 25.0, 0, T0) == s
    assert observe(s, "hall", 24.8, 25.0, 600, T0) == s
    assert observe(s, "hall", float("nan"), 25.0, 600, T0) == s


def test_state_round_trips_through_msgspec() -> None:
    """The learned state persists as JSON and decodes to an equal state."""
    s = observe(LearnedRates(), "hall", 17.0, 25.0, 7200, T0)
    assert msgspec.json.decode(msgspec.json.encode(s), type=LearnedRates) == s


@given(
    st.floats(-40, 60),
    st.floats(-40, 60),
    st.floats(0.001, 1e7),
    st.floats(-40, 60),
    st.floats(-40, 60),
)
def test_lead_time_is_bounded(
    start: float, target: float, took: float, cur: float, tgt: float
) -> None:
    """Whatever was observed, the lead is between 0 and the cap."""
    cfg = OptimalStartConfig()
    s = observe(LearnedRates(), "z", start, target, took, T0, cfg)
    lead = lead_time(s, "z", cur, tgt, cfg)
    assert timedelta(0) <= lead <= cfg.max_lead
