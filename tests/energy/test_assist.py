"""Power-assisted energy curve: the counter's 0.1 kWh ticks placed in time by power readings."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edge.energy.assist import PowerAssist
from edge.energy.curve import EnergyCurve

Q = 0.1
POLL = 10.0
BAND = (0.0, Q)


class Meter:
    """A floored 0.1 kWh register and a power reading, polled every 10 s, fed like the service."""

    def __init__(self, frac0: float, with_power: bool = True) -> None:
        self.curve = EnergyCurve()
        self.assist = PowerAssist(self.curve, max_w=2e6)
        self.true = 1000.0 + frac0  # kWh, register frame
        self.first = math.floor(self.true / Q + 1e-9) * Q
        self.t = 0.0
        self.load = 0.0
        self.with_power = with_power
        self.truth: list[tuple[float, float]] = []

    def poll(self, watts: float) -> None:
        cum = math.floor(self.true / Q + 1e-9) * Q - self.first
        self.assist.counter(self.t, cum, BAND)
        if self.with_power:
            self.assist.power(self.t, watts)
        self.truth.append((self.t, self.true - self.first))

    def run(self, watts: float, seconds: float, switch_at: float = 0.0) -> None:
        """`seconds` at `watts`; the load switches to it `switch_at` s after the last poll."""
        for k in range(round(seconds / POLL)):
            lead = min(switch_at, POLL) if k == 0 else 0.0
            self.true += (self.load * lead + watts * (POLL - lead)) / 3.6e6
            self.load = watts
            self.t += POLL
            self.poll(watts)

    def error(self, a: float, b: float) -> float:
        truth = dict(self.truth)
        got = self.curve.energy(a, b)
        assert got is not None
        return got[0] - (truth[b] - truth[a])


def test_constant_load_is_exact_once_the_first_tick_is_seen() -> None:
    """The unknown starting fraction of a tick is learned at the first tick and shifts the
    provisional curve as a whole: a window that began before it is still exact."""
    m = Meter(frac0=0.07)
    m.load = 1600.0
    m.poll(1600.0)
    m.run(1600.0, 3600)  # a court's lights
    assert abs(m.error(0.0, 1800.0)) < 1e-6
    assert abs(m.error(600.0, 3600.0)) < 1e-6


def test_a_switch_between_polls_costs_at_most_one_poll_of_its_power() -> None:
    m = Meter(frac0=0.0)
    m.poll(0.0)
    m.run(20.0, 1800)  # standby
    m.run(1600.0, 1800, switch_at=3.0)  # lights on 3 s after a poll: seen 7 s late
    err = m.error(1200.0, 3600.0)
    assert 0 < abs(err) <= 1600 * POLL / 3.6e6


def test_without_power_readings_it_is_plain_counter_interpolation() -> None:
    m = Meter(frac0=0.05, with_power=False)
    m.poll(0.0)
    m.run(1600.0, 3600)
    for t, c in zip(m.curve.times, m.curve.cum, strict=True):
        register = math.floor((m.first + c) / Q + 1e-9) * Q - m.first
        assert abs(c - register) < 1e-9 or t == m.curve.times[-1]


def test_a_gap_is_energy_not_a_starting_offset() -> None:
    """Counter moved 2 kWh across a silence with power known to be 0: it counts as energy
    in the gap (not shifted into the past as if it were the unknown starting fraction)."""
    curve = EnergyCurve(max_gap_s=180)
    a = PowerAssist(curve, max_w=2e6)
    a.counter(0, 0.0, BAND)
    a.power(0, 0.0)
    a.counter(10, 0.0, BAND)
    a.counter(1000, 2.0, BAND)
    assert curve.cum[0] == 0.0 and curve.cum[-1] == 2.0


@given(
    frac0=st.floats(0, Q * 0.999),
    loads=st.lists(
        st.tuples(st.floats(0, 20_000), st.integers(1, 180), st.floats(0, POLL)),
        min_size=1,
        max_size=8,
    ),
)
def test_error_is_bounded_by_the_switches_and_the_tick(
    frac0: float, loads: list[tuple[float, int, float]]
) -> None:
    """Between any two polls after the first tick, the error is at most one poll's worth of
    power per load change (plus the first tick's), and never more than two ticks."""
    m = Meter(frac0)
    m.poll(0.0)
    m.run(500.0, 1200)  # enough to tick once
    start = m.t
    switches = 0
    top = 500.0
    for watts, polls, switch_at in loads:
        m.run(watts, polls * POLL, switch_at)
        switches += 1
        top = max(top, watts)
    bound = min(2 * Q, 2 * top * POLL / 3.6e6 * (switches + 1)) + 1e-6
    assert abs(m.error(start, m.t)) <= bound
    assert all(b >= a for a, b in zip(m.curve.cum, m.curve.cum[1:], strict=False))


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["counter", "power"]),
            st.floats(0, 600),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        ),
        max_size=40,
    )
)
def test_any_readings_keep_the_estimate_in_the_band_and_the_curve_rising(
    events: list[tuple[str, float, float | None]],
) -> None:
    curve = EnergyCurve()
    a = PowerAssist(curve, max_w=2e6)
    t, cum = 0.0, 0.0
    for kind, dt, value in events:
        t += dt
        if kind == "power":
            a.power(t, value)
        else:
            cum += abs(value) % 5 if value is not None and math.isfinite(value) else 0.0
            a.counter(t, cum, BAND)
            assert a.est is not None and cum - 1e-9 <= a.est <= cum + Q + 1e-9
    assert all(b >= x for x, b in zip(curve.cum, curve.cum[1:], strict=False))
    assert all(b > x for x, b in zip(curve.times, curve.times[1:], strict=False))
