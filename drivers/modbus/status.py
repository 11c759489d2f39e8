"""Status tables: thousands of field devices (a fire panel's detectors) as one compact value.

A `status_table` point reads one register per field device (its status word) and is
reported as text with one character per device, the groups (loops) separated by `|`:

    "..A.......-|....F....|DD......."     loop 1 device 3 in alarm, loop 2 device 5 in fault

    .  normal      A  alarm      F  fault      D  disabled      -  no device at that address

A device is in exactly one state, by precedence alarm > fault > disabled > normal (a
disabled detector that still reports fire is shown as fire: the safe side), so the
`status_count` points (normal, alarm, fault, disabled) add up to the installed devices.
2,500 devices are 2.5 KB of text: one point in a birth message instead of 2,500, and
one update when any device changes (report by exception, like any point).

Consumers turn the text back into facts with `counts()`, `entries_in()` and `changes()`
(which devices changed state between two values, for alarms naming loop and device).
`StatusTableState` is the driver's side: it assembles the table from block reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .points import PointSpec, StatusLayout

SEPARATOR = "|"
UNKNOWN = "?"
"""An entry not read yet: never in a published value (the table is published complete)."""


class EntryState(StrEnum):
    NORMAL = "."
    ALARM = "A"
    FAULT = "F"
    DISABLED = "D"
    ABSENT = "-"

    @property
    def label(self) -> str:
        return self.name.lower()


_VALID = frozenset(s.value for s in EntryState)
_BY_LABEL = {s.label: s for s in EntryState}


class StatusTextError(ValueError):
    """A status-table value that is not one (bad character or empty)."""


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """How many entries are in each state; `installed` excludes empty addresses."""

    normal: int = 0
    alarm: int = 0
    fault: int = 0
    disabled: int = 0
    absent: int = 0

    @property
    def installed(self) -> int:
        return self.normal + self.alarm + self.fault + self.disabled

    def of(self, state: str) -> int:
        """The count of a state given by label (`"alarm"`) as in a `status_count` point."""
        if state not in _BY_LABEL:
            raise ValueError(f"unknown state {state!r}; one of {sorted(_BY_LABEL)}")
        return int(getattr(self, state))


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One device changed state: group (loop) and entry (device address), both from 1."""

    group: int
    entry: int
    old: EntryState | None
    """None when there was no previous table (start-up): every non-normal entry is new."""
    new: EntryState


def parse_table(text: str) -> tuple[str, ...]:
    """The groups of a status-table value; StatusTextError when it is not one."""
    if not isinstance(text, str) or not text:
        raise StatusTextError("a status table is a non-empty text")
    groups = tuple(text.split(SEPARATOR))
    for i, g in enumerate(groups, 1):
        if not g:
            raise StatusTextError(f"group {i} is empty")
        bad = set(g) - _VALID
        if bad:
            raise StatusTextError(
                f"group {i} has {sorted(bad)!r}; entries are one of {''.join(sorted(_VALID))}"
            )
    return groups


def counts(text: str) -> StatusCounts:
    """Entries per state of a status-table value."""
    parse_table(text)
    return StatusCounts(
        normal=text.count(EntryState.NORMAL),
        alarm=text.count(EntryState.ALARM),
        fault=text.count(EntryState.FAULT),
        disabled=text.count(EntryState.DISABLED),
        absent=text.count(EntryState.ABSENT),
    )


def count_of(text: str, state: str) -> int:
    """Entries in state `state` (a label: normal, alarm, fault, disabled, absent)."""
    return text.count(_BY_LABEL[state].value)


def entries_in(text: str, state: EntryState) -> list[tuple[int, int]]:
    """(group, entry) of every entry in `state`, both numbered from 1."""
    out = []
    for gi, g in enumerate(parse_table(text), 1):
        start = g.find(state)
        while start != -1:
            out.append((gi, start + 1))
            start = g.find(state, start + 1)
    return out


def changes(old: str | None, new: str) -> list[EntryChange]:
    """The entries whose state differs between two values of the same table.

    With no old value (or one of another shape: the profile changed), every entry of
    `new` that is not normal or absent is reported with `old = None`."""
    new_groups = parse_table(new)
    old_groups: tuple[str, ...] | None = None
    if old is not None:
        try:
            old_groups = parse_table(old)
        except StatusTextError:
            old_groups = None
        if old_groups is not None and [len(g) for g in old_groups] != [len(g) for g in new_groups]:
            old_groups = None
    out = []
    for gi, g in enumerate(new_groups):
        before = old_groups[gi] if old_groups is not None else None
        if before == g:
            continue
        for ei, ch in enumerate(g):
            if before is None:
                if ch not in (EntryState.NORMAL, EntryState.ABSENT):
                    out.append(EntryChange(gi + 1, ei + 1, None, EntryState(ch)))
            elif before[ei] != ch:
                out.append(EntryChange(gi + 1, ei + 1, EntryState(before[ei]), EntryState(ch)))
    return out


# ---- registers <-> states (the driver's and the simulator's side) --------------------
def decode_entry(word: int, layout: StatusLayout) -> EntryState:
    """The state of one status word."""
    if layout.installed_bit is not None and not (word >> layout.installed_bit) & 1:
        return EntryState.ABSENT
    if (word >> layout.alarm_bit) & 1:
        return EntryState.ALARM
    if (word >> layout.fault_bit) & 1:
        return EntryState.FAULT
    if (word >> layout.disabled_bit) & 1:
        return EntryState.DISABLED
    return EntryState.NORMAL


def encode_entry(
    layout: StatusLayout, *, alarm: bool = False, fault: bool = False, disabled: bool = False
) -> int:
    """A status word with these flags (installed, when the layout has that bit)."""
    word = (alarm << layout.alarm_bit) | (fault << layout.fault_bit)
    word |= disabled << layout.disabled_bit
    if layout.installed_bit is not None:
        word |= 1 << layout.installed_bit
    return word


def _lookup(layout: StatusLayout) -> tuple[list[int], str]:
    """(bit numbers, 16-character table) to decode a word through 4 bits at once."""
    bits = [layout.alarm_bit, layout.fault_bit, layout.disabled_bit]
    bits.append(layout.installed_bit if layout.installed_bit is not None else -1)
    table = []
    for key in range(16):
        word = 0
        for i, b in enumerate(bits):
            if b >= 0 and (key >> i) & 1:
                word |= 1 << b
        table.append(decode_entry(word, layout).value)
    return bits, "".join(table)


def render_words(point: PointSpec, words: Sequence[int]) -> str:
    """The text of a whole table from its register span (as read from address on)."""
    assert point.status is not None
    state = StatusTableState(point)
    stride = point.group_stride
    for g in range(point.status.groups):
        start = g * stride
        state.apply(g * point.length, [int(w) for w in words[start : start + point.length]])
    text = state.text
    assert text is not None
    return text


class StatusTableState:
    """A table assembled from segments (block reads of consecutive entries of one group).

    `apply(first_entry, words)` returns the whole table's text once every entry has been
    read, None before; comparing raw words first keeps an unchanged segment (the steady
    state) at one list comparison."""

    def __init__(self, point: PointSpec) -> None:
        if point.status is None:
            raise ValueError(f"point {point.name!r} is not a status_table point")
        self.point = point
        self.length = point.length
        self.groups = point.status.groups
        self._bits, self._lut = _lookup(point.status)
        self._chars = bytearray(UNKNOWN.encode() * (self.length * self.groups))
        self._unknown = len(self._chars)
        self._raw: dict[int, list[int]] = {}
        self._text: str | None = None
        self.refused: set[int] = set()
        """First entries of segments the device answered with an exception (the bus's
        bookkeeping: the table is uncertain while any is refused)."""

    @property
    def text(self) -> str | None:
        return self._text

    def apply(self, first_entry: int, words: list[int]) -> str | None:
        if self._raw.get(first_entry) == words:
            return self._text
        end = first_entry + len(words)
        if (
            first_entry < 0
            or end > len(self._chars)
            or (first_entry // self.length != (end - 1) // self.length)
        ):
            raise ValueError(f"segment {first_entry}+{len(words)} is not inside one group")
        a, f, d, i = self._bits
        lut = self._lut
        chars = "".join(
            lut[
                ((w >> a) & 1)
                | (((w >> f) & 1) << 1)
                | (((w >> d) & 1) << 2)
                | ((((w >> i) & 1) << 3) if i >= 0 else 0)
            ]
            for w in words
        )
        if first_entry not in self._raw:
            self._unknown -= len(words)
        self._raw[first_entry] = list(words)
        self._chars[first_entry:end] = chars.encode()
        if self._unknown == 0:
            body = self._chars.decode()
            n = self.length
            self._text = SEPARATOR.join(body[k * n : (k + 1) * n] for k in range(self.groups))
        return self._text
