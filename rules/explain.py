"""Explain why an output has its wanted value: what `edgectl explain` shows."""

from __future__ import annotations

from datetime import datetime

import msgspec

from rules.evaluation import Evaluation, Wanted
from rules.levels import Level
from rules.model import Value


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """The winner of one output and every non-empty level below it."""

    output: str
    at: datetime
    value: Value | None
    """None: nothing wants anything; the reconciler leaves the output alone."""
    level: Level | None
    priority: int | None
    cause_kind: str | None
    cause_id: str | None
    since: datetime | None
    until: datetime | None
    detail: str
    levels: tuple[Wanted, ...]
    known: bool
    """False if the output is not produced by this evaluation (unknown name)."""

    def text(self) -> str:
        """One line per level, the winner first, for a terminal."""
        if not self.known:
            return f"{self.output}: unknown output (not in this site's evaluation)"
        if self.value is None or self.level is None:
            return f"{self.output}: no level wants anything; left as it is"
        lines = [
            f"{self.output} = {self.value!r}  [{self.level.priority} {self.level.value}]"
            f" {self.cause_kind} {self.cause_id} since {_t(self.since)} until {_t(self.until)}"
            + (f" ({self.detail})" if self.detail else "")
        ]
        for w in self.levels[1:]:
            lines.append(
                f"  overridden: {w.level.priority} {w.level.value} wants {w.value!r}"
                f" ({w.cause.kind} {w.cause.id}, until {_t(w.cause.until)})"
            )
        return "\n".join(lines)


def _t(dt: datetime | None) -> str:
    return "-" if dt is None else dt.isoformat()


def explain(evaluation: Evaluation, output: str) -> Explanation:
    """Why `output` has its value in `evaluation`; never raises for an unknown output."""
    state = evaluation.outputs.get(output)
    w = None if state is None else state.winner
    return Explanation(
        output=output,
        at=evaluation.at,
        value=None if w is None else w.value,
        level=None if w is None else w.level,
        priority=None if w is None else w.level.priority,
        cause_kind=None if w is None else w.cause.kind,
        cause_id=None if w is None else w.cause.id,
        since=None if w is None else w.cause.since,
        until=None if w is None else w.cause.until,
        detail="" if w is None else w.cause.detail,
        levels=() if state is None else state.levels,
        known=state is not None,
    )
