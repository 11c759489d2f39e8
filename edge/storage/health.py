"""Write health: OK until a job fails on the medium, FAILING until writes work again.

"Work again" means a good commit with no failure in the `recovered_after_s` before it: on a
full disk some small writes still fit (a WAL page reused after a checkpoint) while the rest
fail, and one lucky commit must not clear the alarm only to raise it again a second later.

Logged and emitted on transitions only (Home Assistant's coordinator pattern), not on every
failed write: a full disk fails hundreds of writes a minute.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from edge.clock import Clock
from edge.storage.errors import StorageFault
from edge.storage.events import (
    HealthState,
    HealthView,
    StorageEvent,
    StorageFailing,
    StorageRecovered,
)

log = structlog.get_logger("edge.storage")


RECOVERED_AFTER_S = 5.0


class HealthTracker:
    def __init__(
        self,
        clock: Clock,
        emit: Callable[[StorageEvent], None],
        recovered_after_s: float = RECOVERED_AFTER_S,
    ) -> None:
        self._clock = clock
        self._emit = emit
        self._quiet = recovered_after_s
        self._view = HealthView(HealthState.OK, None, None, None, None, 0)
        self._failing_mono = 0.0
        self._last_failure_mono = 0.0

    @property
    def view(self) -> HealthView:
        return self._view

    def failed(self, fault: StorageFault) -> None:
        v = self._view
        self._last_failure_mono = self._clock.monotonic()
        if v.state is HealthState.OK:
            self._failing_mono = self._clock.monotonic()
            self._view = HealthView(
                HealthState.FAILING,
                self._clock.now(),
                str(fault),
                fault.fault,
                v.last_good_commit,
                1,
            )
            log.error("storage_failing", fault=fault.fault.value, error=str(fault))
            self._emit(StorageFailing(self._view))
        else:
            self._view = HealthView(
                v.state, v.failing_since, str(fault), fault.fault, v.last_good_commit,
                v.failures + 1,
            )  # fmt: skip

    def committed(self) -> None:
        v = self._view
        now = self._clock.now()
        mono = self._clock.monotonic()
        if v.state is HealthState.FAILING and mono - self._last_failure_mono < self._quiet:
            self._view = HealthView(v.state, v.failing_since, v.last_error, v.last_fault, now,
                                    v.failures)  # fmt: skip
        elif v.state is HealthState.FAILING:
            failed_for = mono - self._failing_mono
            self._view = HealthView(HealthState.OK, None, v.last_error, v.last_fault, now, 0)
            log.info("storage_recovered", failed_for_s=round(failed_for, 3), failures=v.failures)
            self._emit(StorageRecovered(self._view, failed_for))
        else:
            self._view = HealthView(HealthState.OK, None, v.last_error, v.last_fault, now, 0)
