"""One connection of a bus: a pymodbus client, its reconnect loop, and transactions.

The channel owns the link state. `supervise()` (a task for the life of the bus)
reconnects forever with exponential backoff and jitter whenever the link is lost;
`transact()` runs one request with the device's timeout and retries, keeps the
inter-frame silence on serial links, and turns every failure into one exception
type (`TransactionFailed`) so that nothing above has to know pymodbus' errors.
"""

from __future__ import annotations

import asyncio
import random
import time

import structlog
from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from .errors import TransactionFailed
from .events import BusStats
from .links import Link, late_reply_guard_s, make_client, silence_s
from .requests import Request

log = structlog.get_logger("drivers.modbus")


SILENT_BEFORE_RECONNECT = 8


class LinkDown(TransactionFailed):
    """The link itself is down: not the device's fault."""


class Channel:
    def __init__(
        self,
        link: Link,
        stats: BusStats,
        bus_name: str,
        reset_after_silent: int | None = SILENT_BEFORE_RECONNECT,
    ) -> None:
        self.link = link
        self.stats = stats
        self.bus_name = bus_name
        self.client: ModbusBaseClient = make_client(link)
        self._silence = silence_s(link)
        self._guard = late_reply_guard_s(link)
        self._quiet_until = 0.0
        self._lost = asyncio.Event()
        self._lost.set()  # not connected yet
        self._up = asyncio.Event()
        self._was_up = False
        self._down_logged = False
        self._silent_in_a_row = 0  # timeouts with no answer from anyone in between
        self._reset_after = reset_after_silent
        self._busy = False
        self._handoff: asyncio.Future[None] | None = None

    @property
    def connected(self) -> bool:
        return self._up.is_set() and self.client.connected

    # ---- whose turn: one job at a time uses the connection ---------------------
    @property
    def free(self) -> bool:
        """Nobody is using the connection and nobody is waiting for it."""
        return not self._busy

    def take_now(self) -> None:
        """Take a free connection without waiting (the bus's direct path)."""
        assert not self._busy, "the connection is in use"
        self._busy = True

    async def take(self) -> None:
        """Take the connection, after the job using it now (the channel's one worker)."""
        if not self._busy:
            self._busy = True
            return
        self._handoff = asyncio.get_running_loop().create_future()
        try:
            await self._handoff  # handed over still busy: nobody can slip in between
        finally:
            self._handoff = None

    def give_back(self) -> None:
        """Done with the connection: to the waiting worker if there is one."""
        if self._handoff is not None and not self._handoff.done():
            self._handoff.set_result(None)
        else:
            self._busy = False

    async def wait_connected(self, within_s: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._up.wait(), within_s)
        except TimeoutError:
            return False
        return True

    def mark_lost(self, reason: str) -> None:
        if self._up.is_set():
            log.warning("link_lost", bus=self.bus_name, link=self.link.label, reason=reason)
            self._down_logged = True
        self._up.clear()
        self.stats.connected = False
        self._lost.set()

    async def supervise(self) -> None:
        """Reconnect forever: wait for loss, then try with growing, jittered delays."""
        delay = self.link.reconnect_min_s
        while True:
            await self._lost.wait()
            self.client.close()
            self.client.ctx.comm_params.timeout_connect = self.link.connect_timeout_s
            try:
                ok = await asyncio.wait_for(self.client.connect(), self.link.connect_timeout_s)
            except (TimeoutError, OSError, ModbusException):
                ok = False
            except Exception:  # never let the reconnect loop die: polling would stop
                log.exception("link_connect_error", bus=self.bus_name, link=self.link.label)
                ok = False
            if ok and self.client.connected:
                self._lost.clear()
                self._up.set()
                self.stats.connected = True
                if self._was_up:
                    self.stats.reconnects += 1
                    log.info("link_restored", bus=self.bus_name, link=self.link.label)
                self._was_up = True
                self._down_logged = False
                delay = self.link.reconnect_min_s
                continue
            if not self._down_logged:
                log.warning("link_down", bus=self.bus_name, link=self.link.label)
                self._down_logged = True
            else:
                log.debug("link_retry", bus=self.bus_name, link=self.link.label, delay=delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.link.reconnect_max_s)

    async def transact(
        self, device: str, unit_id: int, request: Request, timeout_s: float, retries: int
    ) -> ModbusPDU:
        """Run one request; retry timeouts/garbage; raise TransactionFailed/LinkDown."""
        reason = "no response"
        for _attempt in range(retries + 1):
            if not self.connected:
                if self._up.is_set():
                    self.mark_lost("connection closed by peer")  # wake the supervisor
                raise LinkDown(device, "link down")
            if self._silence or self._guard:
                wait = self._quiet_until - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            self.client.ctx.comm_params.timeout_connect = timeout_s
            started = time.monotonic()
            self.stats.transactions += 1
            try:
                response = await request(self.client)
            except ModbusException as exc:
                reason = _short(exc)
                response = None
            except (OSError, asyncio.InvalidStateError) as exc:
                reason = f"I/O error: {exc}"
                response = None
            finally:
                self._quiet_until = time.monotonic() + self._silence
            if response is None:
                self._silent_in_a_row += 1
                if self._reset_after and self._silent_in_a_row >= self._reset_after:
                    # Nobody on the link answers: a hung gateway or a stale socket. Reopen
                    # it (cheap); a single dead unit never gets here, the others answer.
                    self._silent_in_a_row = 0
                    self._count_error(device, timeout=True)
                    self.mark_lost(f"{self._reset_after} timeouts in a row")
                    raise LinkDown(device, "link reset after repeated timeouts")
                if self._guard:
                    self._quiet_until = time.monotonic() + max(self._silence, self._guard)
                self._count_error(device, timeout=True)
                if not self.client.connected:
                    self.mark_lost(reason)
                    raise LinkDown(device, "link lost")
                continue
            if response.isError():
                self._silent_in_a_row = 0  # it answered
                self._count_error(device, timeout=False)
                code = getattr(response, "exception_code", None)
                raise TransactionFailed(device, f"exception response {code}", exception_code=code)
            self._silent_in_a_row = 0
            latency = time.monotonic() - started
            self.stats.latency_total_s += latency
            self.stats.latency_max_s = max(self.stats.latency_max_s, latency)
            return response
        raise TransactionFailed(device, reason)

    def _count_error(self, device: str, timeout: bool) -> None:
        self.stats.errors += 1
        if timeout:
            self.stats.timeouts += 1
        else:
            self.stats.exceptions += 1
        per = self.stats.per_device_errors
        per[device] = per.get(device, 0) + 1

    def close(self) -> None:
        self.client.close()


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "No response" in text:
        return "no response (timeout or corrupt reply)"
    return text[:120]
