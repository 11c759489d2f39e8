"""The counter decoder: rollover, reset, absurd jumps and garbage, never negative."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from edge.energy.curve import EnergyCurve
from edge.energy.decoder import CounterDecoder, StepKind

WRAP = 2**32 * 0.1


def test_normal_steps_sum_to_the_counter_difference() -> None:
    """Plain increments are passed through."""
    d = CounterDecoder(WRAP)
    assert d.feed(0, 100.0).kind is StepKind.FIRST
    s = d.feed(60, 100.5)
    assert (s.kind, round(s.delta_kwh, 6), s.estimated) == (StepKind.NORMAL, 0.5, False)


def test_rollover_near_the_wrap_counts_through_it() -> None:
    """A step back from just below the wrap to a small value is a rollover, exact."""
    d = CounterDecoder(WRAP)
    d.feed(0, WRAP - 0.3)
    s = d.feed(60, 0.2)
    assert s.kind is StepKind.ROLLOVER
    assert math.isclose(s.delta_kwh, 0.5, abs_tol=1e-6)
    assert not s.estimated


def test_reset_counts_from_the_new_value_and_is_estimated() -> None:
    """A step back far from the wrap is a reset: the new value counts, marked estimated."""
    d = CounterDecoder(WRAP)
    d.feed(0, 5000.0)
    s = d.feed(60, 0.3)
    assert (s.kind, s.estimated) == (StepKind.RESET, True)
    assert math.isclose(s.delta_kwh, 0.3)
    assert "reset" in s.reason
    assert d.feed(120, 0.5).delta_kwh > 0  # follows the new counter


def test_absurd_jump_rejected_then_rebased_when_confirmed() -> None:
    """A jump no load could draw is rejected; three consistent readings re-base."""
    d = CounterDecoder(WRAP, max_kw=100)
    d.feed(0, 10.0)
    d.note_power(3600.0)
    first = d.feed(10, 90_000.0)
    assert first.kind is StepKind.REJECTED and "more than 100 kW" in first.reason
    assert d.feed(20, 90_000.0).kind is StepKind.REJECTED
    s = d.feed(30, 90_000.1)
    assert (s.kind, s.estimated) == (StepKind.REBASED, True)
    assert math.isclose(s.delta_kwh, 0.01 + 0.1, rel_tol=1e-6)  # 3.6 kW x 10 s + the 0.1 seen


def test_one_spike_does_not_move_the_baseline() -> None:
    """A single absurd reading is rejected and the next good one continues as before."""
    d = CounterDecoder(WRAP, max_kw=100)
    d.feed(0, 10.0)
    d.feed(10, 1e6)
    s = d.feed(20, 10.1)
    assert s.kind is StepKind.NORMAL and math.isclose(s.delta_kwh, 0.1)


def test_garbage_is_rejected_with_a_reason() -> None:
    """NaN, infinity, negative, beyond the register, None: each rejected and named."""
    d = CounterDecoder(WRAP)
    d.feed(0, 1.0)
    reasons = [d.feed(1, v).reason for v in (math.nan, math.inf, -1.0, WRAP + 1, None)]
    assert reasons[0] == "NaN" and reasons[1] == "infinite"
    assert "negative" in reasons[2] and "beyond" in reasons[3] and reasons[4] == "no value"


def test_time_going_back_is_rejected() -> None:
    """A reading stamped before the previous one is refused."""
    d = CounterDecoder(WRAP)
    d.feed(100, 1.0)
    assert d.feed(50, 1.1).kind is StepKind.REJECTED


readings = st.lists(
    st.tuples(
        st.floats(min_value=-10, max_value=4000, allow_nan=False),
        st.one_of(
            st.none(),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=0, max_value=WRAP * 1.01),
            st.sampled_from([0.0, 0.1, WRAP - 0.1, WRAP - 5.0, 1e9]),
        ),
    ),
    max_size=60,
)


@given(readings, st.sampled_from([WRAP, None]))
def test_any_sequence_never_crashes_nor_goes_negative(
    seq: list[tuple[float, float | None]], wrap: float | None
) -> None:
    """Whatever the meter says, steps are finite and >= 0 and the curve never decreases."""
    d = CounterDecoder(wrap, max_kw=500)
    curve = EnergyCurve(max_gap_s=60)
    t, cum = 0.0, 0.0
    for dt, value in seq:
        t += dt
        step = d.feed(t, value)
        assert math.isfinite(step.delta_kwh) and step.delta_kwh >= 0
        if step.accepted:
            cum += step.delta_kwh
            curve.add(t, cum, "x" if step.estimated else "")
    if len(curve.times) >= 2:
        got = curve.energy(curve.times[0] - 5, curve.times[-1])
        assert got is not None and got[0] >= 0
        assert all(b >= a for a, b in zip(curve.cum, curve.cum[1:], strict=False))


def test_span_before_the_first_reading_is_unknown_not_zero() -> None:
    """Energy of a span wholly before the meter's first reading is None, not 0."""
    curve = EnergyCurve()
    curve.add(1000, 5.0)
    curve.add(1010, 5.1)
    assert curve.energy(0, 900) is None
    got = curve.energy(900, 1010)
    assert got is not None and got[1] == {"before_data"}
