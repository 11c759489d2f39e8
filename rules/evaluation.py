"""Result types of `rules.engine.evaluate`."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from rules.levels import Level
from rules.model import Memory, Value
from rules.optimal_start import PreStart

CauseKind = Literal["emergency", "override", "booking", "schedule", "event", "default"]


class Cause(msgspec.Struct, frozen=True, kw_only=True):
    """Why a level wants a value: what (kind, id) and for how long (since, until).

    since/until bound the run of the *same value* at this level around the
    evaluation instant; None means "as far as the engine can see" (unbounded).
    """

    kind: CauseKind
    id: str
    since: datetime | None
    until: datetime | None
    detail: str = ""


class Wanted(msgspec.Struct, frozen=True, kw_only=True):
    """The value one level wants for one output."""

    output: str
    value: Value
    level: Level
    cause: Cause


class OutputState(msgspec.Struct, frozen=True, kw_only=True):
    """Every non-empty level of one output (highest priority first) and the winner."""

    output: str
    levels: tuple[Wanted, ...]
    winner: Wanted | None
    """None: no level and no default has an opinion; the reconciler leaves it alone."""

    def at(self, level: Level) -> Wanted | None:
        """The wanted value at `level`, if that level is non-empty."""
        for w in self.levels:
            if w.level is level:
                return w
        return None


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """The desired state at one instant."""

    at: datetime
    outputs: dict[str, OutputState]
    next_change: datetime | None
    """Next instant at which a wanted value (at any level) or the memory would change
    without new inputs; None = never. Re-evaluate then, or when a watched point changes."""
    memory: Memory
    """Feed back as `World.memory` on the next evaluation (and persist it)."""
    watched_points: tuple[str, ...]
    """Input points this evaluation read; re-evaluate when any of them changes."""
    prestarts: tuple[PreStart, ...] = ()
    """Optimal-start warm-ups running at this instant (track them with warmup_done)."""
    ignored: tuple[str, ...] = ()
    """Input items skipped as invalid (run rules.validate for the full story)."""

    def value(self, output: str) -> Value | None:
        """The winning value of `output`, or None if nothing wants anything."""
        state = self.outputs.get(output)
        return None if state is None or state.winner is None else state.winner.value
