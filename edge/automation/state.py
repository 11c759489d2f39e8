"""What the automation remembers across evaluations, restarts and reloads.

A store: the rules' memory (hold timers, latches) and learned warm-up rates are saved
in SQLite; the last evaluation, the optimal-start log and granted entries live in
memory for as long as the daemon. The automation worker writes it; explain, the alarm
detectors and the energy windows read it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import msgspec
import structlog

from edge.storage import Database, kv
from rules import Evaluation
from rules.model import Entry, Memory
from rules.optimal_start import LearnedRates, PreStart

log = structlog.get_logger("edge.automation")

MEMORY_KEY = "rules.memory"
LEARNED_KEY = "rules.learned"
ENTRY_HORIZON = timedelta(days=2)


class AutomationState:
    """Create with `await AutomationState.open(db)`."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.memory = Memory()
        self.learned = LearnedRates()
        self.last: Evaluation | None = None
        self.entries: list[Entry] = []
        self.warmups: dict[str, tuple[PreStart, float]] = {}
        """zone -> the optimal-start warm-up in progress and the temperature it began at."""
        self.last_warmup_early_s: dict[str, float] = {}
        self.prestart_log: dict[tuple[str, datetime], datetime] = {}
        """(zone, booking window start) -> when pre-conditioning began (energy windows)."""
        self._saved: dict[str, bytes] = {}

    @classmethod
    async def open(cls, db: Database) -> AutomationState:
        state = cls(db)
        await db.migrate(kv.SCHEMA)
        raw = await db.run(lambda c: (kv.get(c, MEMORY_KEY), kv.get(c, LEARNED_KEY)))
        try:
            if raw[0]:
                state.memory = msgspec.json.decode(raw[0], type=Memory)
            if raw[1]:
                state.learned = msgspec.json.decode(raw[1], type=LearnedRates)
        except msgspec.DecodeError:
            log.error("automation_state_unreadable_starting_fresh")
        state._saved = {
            MEMORY_KEY: msgspec.json.encode(state.memory),
            LEARNED_KEY: msgspec.json.encode(state.learned),
        }
        return state

    def record_entry(self, booking_id: str, at: datetime) -> None:
        """A granted entry for a booking (no-show release input)."""
        self.entries.append(Entry(booking_id=booking_id, at=at))
        horizon = at - ENTRY_HORIZON
        self.entries = [e for e in self.entries if e.at > horizon]

    def prestart_of(self, zone: str, start: datetime) -> datetime | None:
        """When pre-conditioning began for `zone`'s window starting at `start`, if it did."""
        return self.prestart_log.get((zone, start))

    async def save(self) -> None:
        """Persist memory and learned rates when they changed."""
        for key, value in ((MEMORY_KEY, self.memory), (LEARNED_KEY, self.learned)):
            body = msgspec.json.encode(value)
            if self._saved.get(key) != body:
                await self._db.run(partial(kv.put, key=key, value=body.decode()))
                self._saved[key] = body
