"""edgectl's table layout: ids are never cut nor hidden; the rest gives way first."""

from __future__ import annotations

import io
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from edge.cli.tables import Col, ColumnKind, compact_times, layout, print_table

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.:_", min_size=1, max_size=30)
free = st.text(alphabet="abc xyz=,.", max_size=80)
kinds: st.SearchStrategy[ColumnKind] = st.sampled_from(["id", "short", "text"])


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Col], list[list[str]]]:
    cols = [
        Col(f"c{i}", draw(kinds), draw(st.integers(0, 9))) for i in range(draw(st.integers(1, 8)))
    ]
    rows = [
        [draw(ids) if c.kind == "id" else draw(free) or "-" for c in cols]
        for _ in range(draw(st.integers(0, 6)))
    ]
    return cols, rows


@given(tables(), st.integers(20, 200))
def test_ids_keep_their_full_width(table: tuple[list[Col], list[list[str]]], width: int) -> None:
    """An id column with values is always shown, at least as wide as its longest id;
    the table fits the width whenever the ids alone do."""
    cols, rows = table
    plan = layout(cols, rows, width)
    widths = dict(zip(plan.shown, plan.widths, strict=True))
    ids_only = 1
    for i, c in enumerate(cols):
        if c.kind == "id" and any(r[i] != "-" for r in rows):
            assert i in widths
            longest = max([len(c.header)] + [len(r[i]) for r in rows])
            assert widths[i] >= longest
            ids_only += longest + 3
    if ids_only <= width:
        assert plan.total <= width, (plan, width)


@given(tables(), st.integers(20, 200))
def test_wide_shows_everything_whole(table: tuple[list[Col], list[list[str]]], width: int) -> None:
    cols, rows = table
    plan = layout(cols, rows, width, wide=True)
    assert plan.shown == list(range(len(cols))) and plan.hidden == []
    for i, w in zip(plan.shown, plan.widths, strict=True):
        assert w == max([len(cols[i].header)] + [len(r[i]) for r in rows])


def test_printed_at_80_columns() -> None:
    """A journal-like table at 80 columns: ids whole, free text shortened, hidden
    columns named, times of one day shortened with the day in the title."""
    out = io.StringIO()
    console = Console(file=out, width=80, highlight=False)
    rows: list[list[Any]] = [
        ["2026-12-02T01:14:29.1234+00:00", "write", "lights-training-3.ch1_on",
         "training-3", "B-07151900-training-3", "booking", "value=True, " * 10],
        ["2026-12-02T01:15:00+00:00", "alarm", "comm_lost:fcu-exhibition6",
         "exhibition", None, "system", "state=active"],
    ]  # fmt: skip
    cols = [
        Col("time", keep=8), Col("kind", keep=6), Col("subject", "id"), Col("zone", keep=2),
        Col("booking", "id"), Col("by", keep=4), Col("what", "text", 7),
    ]  # fmt: skip
    print_table(console, "journal", cols, rows)
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for whole in ("lights-training-3.ch1_on", "comm_lost:fcu-exhibition6", "B-07151900-training-3"):
        assert whole in text
    assert "time 2026-12-02 UTC" in text and "01:14:29" in text and ".1234" not in text
    assert "hidden at 80 columns:" in text and "--wide" in text


def test_compact_times_only_when_day_and_offset_are_shared() -> None:
    rows = [["2026-12-02T01:00:00+08:00"], ["2026-12-03T02:00:00+08:00"], ["-"]]
    assert compact_times(rows, 0) == "2026, UTC+08:00"
    assert rows == [["12-02 01:00:00"], ["12-03 02:00:00"], ["-"]]
    mixed = [["2026-12-02T01:00:00+08:00"], ["2026-12-02T01:00:00+00:00"]]
    assert compact_times(mixed, 0) is None and mixed[1] == ["2026-12-02T01:00:00+00:00"]
    assert compact_times([["not a time"]], 0) is None


def test_wider_than_the_terminal_when_asked() -> None:
    """--wide: every column at full width even past the terminal's edge."""
    out = io.StringIO()
    console = Console(file=out, width=40, highlight=False)
    long = "x" * 60
    print_table(console, "t", [Col("id", "id"), Col("what", "text")], [["a-b", long]], wide=True)
    assert long in out.getvalue() and "…" not in out.getvalue()
    assert console.width == 40
