"""Status tables: thousands of field devices as one compact, diffable value."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.clock import SystemClock
from drivers.modbus.codec import decode_point, encode_point
from drivers.modbus.device import DeviceRuntime
from drivers.modbus.errors import CodecError, ProfileError
from drivers.modbus.events import BusEvent, PointUpdate, Quality
from drivers.modbus.links import DeviceConfig
from drivers.modbus.planner import plan_profile
from drivers.modbus.points import PointSpec, StatusLayout
from drivers.modbus.profiles import load_profile, parse_profile, resolve
from drivers.modbus.status import (
    EntryChange,
    EntryState,
    StatusCounts,
    StatusTableState,
    StatusTextError,
    changes,
    count_of,
    counts,
    decode_entry,
    encode_entry,
    entries_in,
    parse_table,
    render_words,
)

LAYOUT = StatusLayout(groups=3, stride=8, installed_bit=15)


def table_point(**kw: object) -> PointSpec:
    base: dict[str, object] = {
        "name": "devices",
        "table": "input",
        "address": 100,
        "datatype": "status_table",
        "length": 5,
        "status": msgspec.to_builtins(LAYOUT),
    }
    return msgspec.convert(base | kw, PointSpec)


def test_a_status_word_has_one_state_by_precedence() -> None:
    """alarm > fault > disabled > normal; an uninstalled address is absent."""
    inst = 1 << 15
    assert decode_entry(inst, LAYOUT) is EntryState.NORMAL
    assert decode_entry(inst | 0b111, LAYOUT) is EntryState.ALARM
    assert decode_entry(inst | 0b110, LAYOUT) is EntryState.FAULT
    assert decode_entry(inst | 0b100, LAYOUT) is EntryState.DISABLED
    assert decode_entry(0b001, LAYOUT) is EntryState.ABSENT
    no_installed_bit = StatusLayout(alarm_bit=4, fault_bit=5, disabled_bit=6)
    assert decode_entry(0, no_installed_bit) is EntryState.NORMAL
    assert decode_entry(1 << 5, no_installed_bit) is EntryState.FAULT
    word = encode_entry(LAYOUT, fault=True, disabled=True)
    assert decode_entry(word, LAYOUT) is EntryState.FAULT


def test_words_render_per_group_with_stride() -> None:
    """Each group's entries start `stride` registers after the previous group's."""
    p = table_point()
    words = [0] * p.register_count
    assert p.register_count == 2 * 8 + 5
    ok = encode_entry(LAYOUT)
    for g in range(3):
        for e in range(5):
            words[g * 8 + e] = ok
    words[1] = encode_entry(LAYOUT, alarm=True)  # group 1, entry 2
    words[8 + 4] = 0  # group 2, entry 5: nothing installed
    words[16] = encode_entry(LAYOUT, disabled=True)
    words[5] = encode_entry(LAYOUT, alarm=True)  # between groups: not an entry
    text = render_words(p, words)
    assert text == ".A...|....-|D...."
    assert decode_point(p, words) == text
    assert counts(text) == StatusCounts(normal=12, alarm=1, fault=0, disabled=1, absent=1)
    assert counts(text).installed == 14
    assert entries_in(text, EntryState.ALARM) == [(1, 2)]
    assert count_of(text, "disabled") == 1


def test_status_points_are_read_only_and_counts_derived() -> None:
    """Writing a table or a count is refused; a count has no registers of its own."""
    p = table_point()
    with pytest.raises(CodecError, match="read-only"):
        encode_point(p, "....")
    profile = load_profile("fire_gateway")
    count = profile.point("devices_alarm")
    assert count is not None and count.derived and count.register_count == 0
    with pytest.raises(CodecError, match="derived from 'devices'"):
        decode_point(count, [])


def test_changes_name_group_and_entry() -> None:
    """Between two values, every entry that changed is named with its old and new state."""
    before = ".....|.....|....."
    after = "..A..|F....|....D"
    assert changes(before, after) == [
        EntryChange(1, 3, EntryState.NORMAL, EntryState.ALARM),
        EntryChange(2, 1, EntryState.NORMAL, EntryState.FAULT),
        EntryChange(3, 5, EntryState.NORMAL, EntryState.DISABLED),
    ]
    assert changes(after, before)[0] == EntryChange(1, 3, EntryState.ALARM, EntryState.NORMAL)
    # Start-up (or a table of another shape): every abnormal entry is reported as new.
    assert changes(None, after) == [
        EntryChange(1, 3, None, EntryState.ALARM),
        EntryChange(2, 1, None, EntryState.FAULT),
        EntryChange(3, 5, None, EntryState.DISABLED),
    ]
    assert changes("..", "..A..|.-...") == [EntryChange(1, 3, None, EntryState.ALARM)]


def test_bad_status_text_is_refused() -> None:
    """parse_table says what is wrong with a value that is not a status table."""
    for bad, needle in (("", "non-empty"), ("..|", "group 2 is empty"), ("..x", "'x'")):
        with pytest.raises(StatusTextError, match=needle):
            parse_table(bad)


def test_table_state_publishes_only_once_complete_and_on_change() -> None:
    """Segments fill the table; nothing before the last one; unchanged words cost nothing."""
    p = table_point()
    state = StatusTableState(p)
    ok = [encode_entry(LAYOUT)] * 5
    assert state.apply(0, ok) is None
    assert state.apply(5, ok) is None
    first = state.apply(10, ok)
    assert first == ".....|.....|....."
    assert state.apply(5, ok) is first  # same words: the same object back
    alarm = [*ok[:2], encode_entry(LAYOUT, alarm=True), *ok[3:]]
    assert state.apply(5, alarm) == ".....|..A..|....."
    with pytest.raises(ValueError, match="inside one group"):
        state.apply(3, ok)


def test_fire_gateway_reads_2500_devices_in_20_blocks() -> None:
    """The shipped gateway profile: 10 loops x 250 addresses in blocks of <= 125."""
    profile = load_profile("fire_gateway")
    blocks = plan_profile(profile)
    segments = [b for b in blocks if b.first_entry is not None]
    assert len(segments) == 20 and all(b.count <= 125 for b in segments)
    assert sorted(b.first_entry for b in segments if b.first_entry is not None) == list(
        range(0, 2500, 125)
    )
    assert len(blocks) == 21  # plus the panel word and loop faults in one read
    smaller = resolve(profile, {"devices": {"status": {"groups": 2, "stride": 256}}})
    assert len([b for b in plan_profile(smaller) if b.first_entry is not None]) == 4


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('length = 5', "status = {...}"),
        ('length = 5, status = { groups = 2, stride = 3 }', "stride"),
        ('length = 5000, status = {}', "1..4096"),
        ('length = 4000, status = { groups = 5 }', "at most 16384"),
        ('length = 5, status = { alarm_bit = 1 }', "distinct"),
        ('length = 5, status = {}, writable = true', "read-only"),
    ],
)  # fmt: skip
def test_bad_status_tables_are_explained(extra: str, needle: str) -> None:
    """Each mistake in a status table point is named."""
    text = (
        'name = "x"\npoints = [{ name = "t", table = "input", address = 0, '
        f'datatype = "status_table", {extra} }}]'
    )
    with pytest.raises(ProfileError, match=needle):
        parse_profile(text)


def test_a_count_must_name_a_table_of_its_profile() -> None:
    """count.of pointing nowhere (or at an ordinary point) is refused by name."""
    text = (
        'name = "x"\npoints = [{ name = "a", table = "input", address = 0 },'
        ' { name = "n", datatype = "status_count", count = { of = "a", state = "alarm" } }]'
    )
    with pytest.raises(ProfileError, match=r"count.of 'a' must name a status_table"):
        parse_profile(text)


# ---- fuzz ------------------------------------------------------------------------------
STATUS_CHARS = st.sampled_from([s.value for s in EntryState])


@given(text=st.text(max_size=60))
def test_parse_table_never_crashes(text: str) -> None:
    """Any text is a table (whose counts add up to its entries) or a StatusTextError."""
    with contextlib.suppress(StatusTextError):
        groups = parse_table(text)
        c = counts(text)
        assert c.installed + c.absent == sum(len(g) for g in groups)


@given(
    old=st.lists(st.text(STATUS_CHARS, min_size=1, max_size=8), min_size=1, max_size=4),
    data=st.data(),
)
def test_changes_are_exactly_the_differing_entries(old: list[str], data: st.DataObject) -> None:
    """changes(old, new) lists every differing entry once, and applying it gives new."""
    new = [data.draw(st.text(STATUS_CHARS, min_size=len(g), max_size=len(g))) for g in old]
    found = changes("|".join(old), "|".join(new))
    rebuilt = [list(g) for g in old]
    for ch in found:
        assert ch.old is not None and ch.old != ch.new
        assert rebuilt[ch.group - 1][ch.entry - 1] == ch.old
        rebuilt[ch.group - 1][ch.entry - 1] = ch.new
    assert ["".join(g) for g in rebuilt] == new


@given(words=st.lists(st.integers(0, 0xFFFF), min_size=21, max_size=21))
def test_table_decoding_of_any_words(words: list[int]) -> None:
    """Any register content decodes to a valid table whose counts match each word's state."""
    p = table_point()
    text = render_words(p, words)
    parse_table(text)
    entries = [words[g * 8 + e] for g in range(3) for e in range(5)]
    expected = [decode_entry(w, LAYOUT).value for w in entries]
    assert text.replace("|", "") == "".join(expected)


def test_a_refused_segment_keeps_the_table_uncertain_without_flapping() -> None:
    """One segment answered with an exception: the table turns uncertain once and stays so
    while the other segments read fine; it is good again when that segment reads."""
    profile = load_profile("fire_gateway")
    events: list[BusEvent] = []
    dev = DeviceRuntime(DeviceConfig("gw", 1, profile), SystemClock(), events.append)
    table = profile.point("devices")
    assert table is not None and table.status is not None
    ok = [encode_entry(table.status)] * 125

    def cycle(refuse: int | None = None) -> None:
        for i, block in enumerate(dev.blocks):
            if i == refuse:
                dev.refuse_block(i)
            else:
                dev.apply_block(i, [0, 0] if block.first_entry is None else ok)

    def table_updates() -> list[tuple[object, Quality]]:
        return [
            (e.value is not None, e.quality)
            for e in events
            if isinstance(e, PointUpdate) and e.point == "devices"
        ]

    cycle()
    assert table_updates() == [(True, Quality.GOOD)]
    for _ in range(5):
        cycle(refuse=7)
    assert table_updates() == [(True, Quality.GOOD), (True, Quality.UNCERTAIN)]
    cycle()
    assert table_updates()[-1] == (True, Quality.GOOD) and len(table_updates()) == 3
    counts_quality = [
        e.quality for e in events if isinstance(e, PointUpdate) and e.point == "devices_alarm"
    ]
    assert counts_quality == [Quality.GOOD, Quality.UNCERTAIN, Quality.GOOD]
