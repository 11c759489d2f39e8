"""Tables that never cut an id: the layout decides, rich only draws.

A technician types the ids a table shows (`alarms ack comm_lost:fcu-exhibition6`), so
an id column always gets its full width. When the terminal is too narrow, the other
columns go first: free text is shortened to one line with an ellipsis, then whole
columns are hidden, least useful first, and the table says which (`--wide` shows
every column at full width, wider than the terminal if need be).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

ColumnKind = Literal["id", "short", "text"]
TEXT_MIN = 12
"""The narrowest a free-text column is kept before it is hidden."""
_FRACTION = re.compile(r"(T\d{2}:\d{2}:\d{2})\.\d+")
_TIME = re.compile(r"^(\d{4})-(\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True, slots=True)
class Col:
    """A column: `id` is never cut nor hidden (unless empty), `short` is shown whole or
    hidden, `text` is shortened with an ellipsis or hidden. Lower `keep` goes first."""

    header: str
    kind: ColumnKind = "short"
    keep: int = 5


@dataclass(frozen=True, slots=True)
class Layout:
    shown: list[int]
    """Indexes of the columns shown, in their order."""
    widths: list[int]
    """Content width of each shown column."""
    hidden: list[str]

    @property
    def total(self) -> int:
        """Width of the drawn table: contents, one space of padding each side, borders."""
        return sum(self.widths) + 3 * len(self.widths) + 1


def cell(value: Any) -> str:
    """A value as a table shows it: `-` for nothing, times without fractions of a second."""
    if value is None or value == "":
        return "-"
    return _FRACTION.sub(r"\1", str(value))


def compact_times(rows: list[list[str]], column: int) -> str | None:
    """Shorten a column of ISO times that share a date (or a year) and an offset: the
    cells keep what differs, the returned note names what they share (None: unchanged)."""
    cells = [r[column] for r in rows if r[column] != "-"]
    parts = [_TIME.match(c) for c in cells]
    if not cells or not all(parts):
        return None
    matches = [m for m in parts if m is not None]
    offsets = {m[4] for m in matches}
    if len(offsets) != 1:
        return None
    offset = offsets.pop()
    offset = "UTC" if offset in ("Z", "+00:00") else f"UTC{offset}"
    same_day = len({(m[1], m[2]) for m in matches}) == 1
    same_year = len({m[1] for m in matches}) == 1
    if not same_year:
        return None
    for r in rows:
        m = _TIME.match(r[column])
        if m is not None:
            r[column] = m[3] if same_day else f"{m[2]} {m[3]}"
    first = matches[0]
    return f"{first[1]}-{first[2]} {offset}" if same_day else f"{first[1]}, {offset}"


def layout(cols: list[Col], rows: list[list[str]], width: int, wide: bool = False) -> Layout:
    """Which columns to show at `width`, and how wide each is."""
    natural = [max([len(c.header)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    shown = list(range(len(cols)))
    if wide:
        return Layout(shown, natural, [])

    def least(i: int) -> int:
        return min(natural[i], TEXT_MIN) if cols[i].kind == "text" else natural[i]

    def need(idx: list[int]) -> int:
        return sum(least(i) for i in idx) + 3 * len(idx) + 1

    empty = {i for i in shown if all(r[i] == "-" for r in rows)}
    droppable = [i for i in shown if cols[i].kind != "id" or i in empty]
    # Hide empty columns first, then by `keep`, the rightmost first among equals.
    droppable.sort(key=lambda i: (i not in empty, cols[i].keep, -i))
    hidden: list[str] = []
    while need(shown) > width and droppable:
        i = droppable.pop(0)
        shown.remove(i)
        hidden.append(cols[i].header)
    widths = {i: natural[i] for i in shown if cols[i].kind != "text"}
    texts = [i for i in shown if cols[i].kind == "text"]
    spare = width - sum(widths.values()) - 3 * len(shown) - 1
    # Share what is left among the text columns: the narrow ones take what they need.
    for n, i in enumerate(sorted(texts, key=lambda i: natural[i])):
        share = max(spare // (len(texts) - n), least(i))
        widths[i] = min(natural[i], share)
        spare -= widths[i]
    return Layout(shown, [widths[i] for i in shown], hidden)


def print_table(
    console: Console,
    title: str,
    cols: list[Col],
    values: list[list[Any]],
    wide: bool = False,
) -> None:
    rows = [[cell(v) for v in r] for r in values]
    if not wide:
        notes = [
            f"{c.header} {note}"
            for i, c in enumerate(cols)
            if (note := compact_times(rows, i)) is not None
        ]
        if notes:
            title = f"{title}; {', '.join(notes)}"
    plan = layout(cols, rows, console.width, wide)
    table = Table(title=title, title_justify="left")
    for i, w in zip(plan.shown, plan.widths, strict=True):
        kind = cols[i].kind
        overflow: Literal["ellipsis", "ignore"] = "ellipsis" if kind == "text" else "ignore"
        table.add_column(cols[i].header, width=w, no_wrap=True, overflow=overflow)
    for r in rows:
        table.add_row(*(Text(r[i]) for i in plan.shown))
    # Wider than the terminal only when the ids alone do not fit (or --wide): the
    # terminal wraps the line, the id stays one unbroken string to copy.
    width = console.width
    if plan.total > width:
        console.width = plan.total  # print() alone never goes wider than the console
    try:
        console.print(table, crop=False)
    finally:
        console.width = width
    if plan.hidden:
        console.print(
            f"(hidden at {width} columns: {', '.join(plan.hidden)}; --wide shows every column)",
            style="dim",
        )
