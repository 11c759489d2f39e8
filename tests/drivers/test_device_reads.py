"""Report by exception on repeated block reads: a read equal to the last one of its block
publishes nothing (and is not decoded), and nothing is missed that a full decode would emit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from drivers.modbus.codec import Value
from drivers.modbus.device import DeviceRuntime
from drivers.modbus.events import BusEvent, PointUpdate, Quality
from drivers.modbus.links import DeviceConfig
from drivers.modbus.profiles import parse_profile

PROFILE = parse_profile(
    'name = "t"\npoints = [\n'
    '  { name = "a", table = "holding", address = 0 },\n'
    '  { name = "b", table = "holding", address = 1 },\n'
    '  { name = "t", table = "holding", address = 2, datatype = "int16", scale = 0.1 },\n'
    "]\n"
)
T0 = datetime(2026, 5, 1, tzinfo=UTC)


class Clock:
    """Time is injected: `t` seconds since T0."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


def device(heartbeat_s: float = 60.0) -> tuple[DeviceRuntime, Clock, list[BusEvent]]:
    clock, events = Clock(), list[BusEvent]()
    cfg = DeviceConfig("d1", 1, PROFILE, heartbeat_s=heartbeat_s)
    dev = DeviceRuntime(cfg, clock, events.append)
    assert len(dev.blocks) == 1
    return dev, clock, events


def updates(events: list[BusEvent]) -> list[tuple[str, Value | None, Quality]]:
    out = [(e.point, e.value, e.quality) for e in events if isinstance(e, PointUpdate)]
    events.clear()
    return out


def test_a_repeated_read_publishes_nothing_a_changed_one_only_the_change() -> None:
    """Same registers: nothing; one register changed: that point only."""
    dev, clock, events = device()
    dev.apply_block(0, [1, 2, 250])
    assert updates(events) == [("a", 1, Quality.GOOD), ("b", 2, Quality.GOOD),
                               ("t", 25.0, Quality.GOOD)]  # fmt: skip
    clock.t = 1.0
    dev.apply_block(0, [1, 2, 250])
    assert updates(events) == []
    clock.t = 2.0
    dev.apply_block(0, [1, 7, 250])
    assert updates(events) == [("b", 7, Quality.GOOD)]
    dev.apply_block(0, [1, 7, 250])
    assert updates(events) == []


def test_the_same_registers_after_a_quality_mark_turn_the_points_good_again() -> None:
    """A device marked stale or offline in between: the unchanged read is applied in full."""
    dev, _, events = device()
    dev.apply_block(0, [1, 2, 30])
    updates(events)
    dev.mark(list(dev.points.values()), Quality.STALE)
    assert {q for _, _, q in updates(events)} == {Quality.STALE}
    dev.apply_block(0, [1, 2, 30])
    assert updates(events) == [("a", 1, Quality.GOOD), ("b", 2, Quality.GOOD),
                               ("t", 3.0, Quality.GOOD)]  # fmt: skip


def test_unchanged_registers_are_published_again_when_the_heartbeat_is_due() -> None:
    """`heartbeat_s` after a point was last published, the same read publishes it again."""
    dev, clock, events = device(heartbeat_s=10.0)
    dev.apply_block(0, [1, 2, 3])
    clock.t = 5.0
    dev.apply_block(0, [1, 9, 3])
    updates(events)
    clock.t = 9.9
    dev.apply_block(0, [1, 9, 3])
    assert updates(events) == []
    clock.t = 10.0  # a and t were published at 0
    dev.apply_block(0, [1, 9, 3])
    assert [p for p, _, _ in updates(events)] == ["a", "t"]
    clock.t = 15.0  # b was published at 5
    dev.apply_block(0, [1, 9, 3])
    assert [p for p, _, _ in updates(events)] == ["b"]


def test_a_read_equal_to_the_last_is_not_decoded() -> None:
    """The saving itself: an unchanged read never reaches the decoders."""
    dev, clock, _ = device()
    dev.apply_block(0, [1, 2, 3])
    calls = 0

    def counting(decode):  # type: ignore[no-untyped-def]
        def counted(data):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return decode(data)

        return counted

    # A new list: the device's layouts are shared with every device of its profile.
    dev.layouts[0] = [(spec, a, b, counting(d)) for spec, a, b, d in dev.layouts[0]]
    clock.t = 1.0
    dev.apply_block(0, [1, 2, 3])
    assert calls == 0
    dev.apply_block(0, [1, 2, 4])
    assert calls == 3


READ = st.lists(st.integers(0, 3), min_size=3, max_size=3)
"""Few distinct values, so that repeated reads are common."""
STEP = st.one_of(
    st.tuples(st.just("read"), READ),
    st.tuples(st.just("mark"), st.sampled_from([Quality.STALE, Quality.COMM_FAIL])),
    st.tuples(st.just("wait"), st.sampled_from([0.0, 0.5, 3.0, 10.0])),
)


@given(st.lists(STEP, max_size=40))
def test_skipping_unchanged_reads_emits_exactly_what_a_full_decode_emits(
    steps: list[tuple[str, object]],
) -> None:
    """Differential: one runtime skips reads equal to the last, the other is made to forget
    its last read before each apply (every read decoded in full): same events, same order."""
    fast, fast_clock, fast_events = device(heartbeat_s=10.0)
    full, full_clock, full_events = device(heartbeat_s=10.0)
    for kind, arg in steps:
        for dev, clock in ((fast, fast_clock), (full, full_clock)):
            if kind == "read":
                if dev is full:
                    dev._unchanged = [None] * len(dev.blocks)  # no skipping
                dev.apply_block(0, list(arg))  # type: ignore[call-overload]
            elif kind == "mark":
                dev.mark(list(dev.points.values()), arg)  # type: ignore[arg-type]
            else:
                clock.t += arg  # type: ignore[operator]
        assert updates(fast_events) == updates(full_events)
