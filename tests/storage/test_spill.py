"""The memory spill: order, bounds, what may be dropped for what, exact accounting."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.storage.spill import Held, HeldState, Spill, SpillLimits

ALARM, EVENT, STATE = 0, 2, 4


def test_commit_takes_oldest_first_and_skips_what_is_being_sent() -> None:
    """A commit takes QUEUED entries in acceptance order; one sent from memory is skipped."""
    spill: Spill[str] = Spill()
    a, b, c = (spill.add(STATE, True, 10, x).held for x in "abc")
    assert a is not None and b is not None and c is not None
    spill.sending(b)
    batch = spill.take_for_commit(10)
    assert [h.item for h in batch] == ["a", "c"]
    spill.commit_failed(batch)
    assert spill.oldest_unsaved() == a.index
    spill.committed(spill.take_for_commit(1))
    assert spill.oldest_unsaved() == c.index
    assert spill.delivered(b)
    assert (spill.messages, spill.bytes) == (1, 10)


def test_full_spill_evicts_oldest_state_before_events_and_never_alarms() -> None:
    """Over a bound: the oldest state goes first, then plain events; an alarm that finds only
    alarms is refused; an evictable newcomer never displaces something more important."""
    spill: Spill[str] = Spill(SpillLimits(max_messages=3, max_bytes=10**6))
    spill.add(EVENT, True, 1, "e1")
    spill.add(STATE, True, 1, "s1")
    spill.add(ALARM, False, 1, "a1")
    added = spill.add(ALARM, False, 1, "a2")
    assert [h.item for h in added.evicted] == ["s1"]
    added = spill.add(STATE, True, 1, "s2")  # only an event is left to drop: refuse the state
    assert added.held is None and added.evicted == []
    added = spill.add(ALARM, False, 1, "a3")
    assert [h.item for h in added.evicted] == ["e1"]
    assert spill.add(ALARM, False, 1, "a4").held is None  # nothing may go
    assert sorted(h.item for h in spill.live()) == ["a1", "a2", "a3"]


def test_a_refusal_drops_nothing() -> None:
    """When dropping every evictable entry would still not make room, nothing is dropped."""
    spill: Spill[str] = Spill(SpillLimits(max_messages=10, max_bytes=100))
    spill.add(STATE, True, 10, "s1")
    spill.add(ALARM, False, 80, "a1")
    added = spill.add(ALARM, False, 30, "a2")
    assert added.held is None and added.evicted == []
    assert sorted(h.item for h in spill.live()) == ["a1", "s1"]


def test_unbounded_while_the_disk_works() -> None:
    """`bounded=False` (the disk works): a burst is the group-commit batch, never refused."""
    spill: Spill[int] = Spill(SpillLimits(max_messages=2, max_bytes=10))
    for i in range(100):
        assert spill.add(STATE, True, 5, i, bounded=False).held is not None
    assert spill.messages == 100
    # The disk fails now: the next add brings the spill back under its bounds.
    added = spill.add(STATE, True, 5, 100)
    assert len(added.evicted) == 99 and spill.messages == 2


def test_best_sendable_is_most_important_then_oldest() -> None:
    spill: Spill[str] = Spill()
    spill.add(STATE, True, 1, "s1")
    spill.add(EVENT, False, 1, "e1")
    spill.add(EVENT, False, 1, "e2")
    first = spill.best_sendable()
    assert first is not None and first.item == "e1"
    spill.sending(first)
    second = spill.best_sendable()
    assert second is not None and second.item == "e2"
    spill.unsend_all()
    again = spill.best_sendable()
    assert again is not None and again.item == "e1"


class SpillMachine(RuleBasedStateMachine):
    """Random adds, commits, failures, sends, acks and rewinds: the counts stay exact and
    every entry ends up in exactly one place (held, committed, delivered or dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self.spill: Spill[int] = Spill(SpillLimits(max_messages=8, max_bytes=400))
        self.n = 0
        self.batch: list[Held[int]] = []
        self.sending: list[Held[int]] = []
        self.committed: set[int] = set()
        self.delivered: set[int] = set()
        self.dropped: set[int] = set()
        self.refused: set[int] = set()

    @rule(prio=st.sampled_from([ALARM, EVENT, STATE]), size=st.integers(1, 120),
          bounded=st.booleans())  # fmt: skip
    def add(self, prio: int, size: int, bounded: bool) -> None:
        self.n += 1
        added = self.spill.add(prio, prio != ALARM, size, self.n, bounded=bounded)
        for victim in added.evicted:
            assert victim.evictable and victim.state is HeldState.DROPPED
            if prio != ALARM:  # an evictable newcomer never displaces a more important one
                assert victim.prio >= prio
            self.dropped.add(victim.item)
        if added.held is None:
            assert added.evicted == []  # a refusal drops nothing else
            self.refused.add(self.n)

    @precondition(lambda self: not self.batch)
    @rule(limit=st.integers(1, 5))
    def take(self, limit: int) -> None:
        self.batch = self.spill.take_for_commit(limit)
        indexes = [h.index for h in self.batch]
        assert indexes == sorted(indexes)

    @precondition(lambda self: bool(self.batch))
    @rule(ok=st.booleans())
    def settle(self, ok: bool) -> None:
        if ok:
            self.spill.committed(self.batch)
            self.committed |= {h.item for h in self.batch}
        else:
            self.spill.commit_failed(self.batch)
        self.batch = []

    @rule()
    def send(self) -> None:
        held = self.spill.best_sendable()
        if held is not None:
            self.spill.sending(held)
            self.sending.append(held)

    @precondition(lambda self: bool(self.sending))
    @rule()
    def ack(self) -> None:
        held = self.sending.pop(0)
        if self.spill.delivered(held):
            self.delivered.add(held.item)

    @rule()
    def rewind(self) -> None:
        self.spill.unsend_all()
        self.sending = []

    @invariant()
    def counts_are_exact(self) -> None:
        live = list(self.spill.live())
        assert self.spill.messages == len(live)
        assert self.spill.bytes == sum(h.size for h in live)
        held = {h.item for h in live}
        groups = [held, self.committed, self.delivered, self.dropped, self.refused]
        assert sum(len(g) for g in groups) == self.n  # each entry in exactly one place
        assert set().union(*groups) == set(range(1, self.n + 1))


TestSpillMachine = SpillMachine.TestCase
