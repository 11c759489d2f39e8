"""Inbound commands on `cmd/{name}`: validate, authenticate, deduplicate, execute once, answer.

Order of checks, each refusal answered on `cmd_res` with a reason code:
size (`too_large`) -> nesting depth and JSON (`malformed`) -> name (`unknown_command`,
`not_supported`) -> schema (`invalid`) -> signature (`signature_required`, `unknown_key`,
`bad_signature`) -> lifetime (`lifetime_too_long`: `expires_at - issued_at`, and
`expires_at - now`, above the configured bound) -> duplicate `cmd_id` (answered with the
stored result, never executed twice) -> expiry (`expired`) -> guardrails (codes chosen by
the daemon's validator, e.g. `not_writable`, `out_of_range`) -> handler (`ok`, a
CommandRefused code, `failed`, `timeout`). Anything unforeseen is still answered (`failed`).

Results are persisted per `cmd_id` from the signature check on, so a duplicate after a
restart is still answered identically. They are kept until KEEP_AFTER_EXPIRY_S after the
command's `expires_at` (so the id store is bounded by expiry, and by the lifetime bound):
a captured command never outlives the memory of its id, replayed later it is `expired`.
A command that was executing when the process died is answered `interrupted` and not re-run:
at most once is the right default for gates.

Refusals before the signature check has passed are answered at most UNVERIFIED_ANSWERS
(a token bucket), the rest counted and logged: anyone who can publish on the broker could
otherwise make the gateway send one `cmd_res` through its outbox (to the card) per junk
message. Whatever passed the signature check is always answered.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec
import structlog

from edge.clock import Clock
from edge.jsonlimits import depth_problem
from edge.storage import Database, Schema
from edge.tokenbucket import TokenBucket
from edge.uplink.contract import COMMANDS, CmdResBody, Command
from edge.uplink.errors import CommandRefused
from edge.uplink.signing import Verifier

log = structlog.get_logger("edge.uplink.commands")

SCHEMA = Schema(
    component="commands",
    steps=[
        """
        CREATE TABLE cmd_results (
            cmd_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('executing', 'done')),
            received REAL NOT NULL,
            result BLOB
        )
        """,
        # The id store is bounded by expiry: a row is kept until KEEP_AFTER_EXPIRY_S after
        # its command's expires_at (old rows, without one, RESULT_RETENTION_S after receipt).
        """
        ALTER TABLE cmd_results ADD COLUMN expires REAL;
        CREATE INDEX cmd_results_expires ON cmd_results(expires)
        """,
    ],
)

Handler = Callable[[Command], Awaitable[dict[str, Any] | None]]
"""Executes a validated command; returns an optional result object, raises CommandRefused."""
Guardrail = Callable[[Command], None]
"""Raises CommandRefused when a command breaks the venue's limits (unknown point, range...)."""
Responder = Callable[[CmdResBody], Awaitable[None]]


class SignatureCheck(Protocol):
    """Raises CommandRefused unless the command's signature is acceptable (`Verifier`)."""

    def check(self, topic: str, obj: dict[str, Any], now: datetime) -> None: ...


RESULT_RETENTION_S = 7 * 24 * 3600.0
DEFAULT_MAX_LIFETIME_S = 3600.0
LIFETIME_LIMIT_S = 24 * 3600.0
"""The most `[uplink] command_max_lifetime_s` may be (kept below the retention)."""
CLOCK_SKEW_S = 300.0
"""Tolerated difference between the cloud's and the gateway's clocks (`expires_at - now`)."""
KEEP_AFTER_EXPIRY_S = 3600.0
"""A result is remembered this long after its command expired (a replay later is refused as
`expired` anyway; the margin covers the gateway's clock being set back)."""
PRUNE_EVERY_S = 600.0
assert RESULT_RETENTION_S > LIFETIME_LIMIT_S + CLOCK_SKEW_S
UNVERIFIED_ANSWERS = (20.0, 200)
"""(per second, burst) of answers to commands refused before their signature was verified:
far above a cloud's own mistakes, far below a flood."""
_decoder = msgspec.json.Decoder()
_result_decoder = msgspec.json.Decoder(CmdResBody)
_encoder = msgspec.json.Encoder()


class _Refused(msgspec.Struct, frozen=True):
    """A refusal by the checks before execution; `verified`: the signature check had passed
    (only such refusals are always answered)."""

    answer: CmdResBody
    verified: bool = False


class CommandProcessor:
    """Turns one inbound `cmd/{name}` payload into one `cmd_res` (or a stored answer); a
    refusal before the signature check only within UNVERIFIED_ANSWERS."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        respond: Responder,
        handlers: Mapping[str, Handler],
        *,
        verifier: SignatureCheck | None = None,
        guardrail: Guardrail | None = None,
        max_payload: int = 64 * 1024,
        handler_timeout_s: float = 30.0,
        max_lifetime_s: Callable[[], float] = lambda: DEFAULT_MAX_LIFETIME_S,
        unverified_answers: tuple[float, int] | None = UNVERIFIED_ANSWERS,
    ) -> None:
        unknown = set(handlers) - set(COMMANDS)
        if unknown:
            raise ValueError(
                f"handlers for unknown commands {sorted(unknown)}: known {sorted(COMMANDS)}"
            )
        self._db = db
        self._clock = clock
        self._respond = respond
        self._handlers = dict(handlers)
        self._verifier: SignatureCheck = verifier or Verifier({}, required=False)
        self._guardrail = guardrail
        self._max_payload = max_payload
        self._timeout = handler_timeout_s
        self._max_lifetime_s = max_lifetime_s
        self._running: dict[str, asyncio.Future[CmdResBody]] = {}
        self._unverified = (
            None if unverified_answers is None
            else TokenBucket(*unverified_answers, monotonic=clock.monotonic)
        )  # fmt: skip
        self.unanswered = 0
        """Refusals not answered since start (over UNVERIFIED_ANSWERS)."""
        self._pruned_mono: float | None = None

    async def start(self) -> None:
        """Create tables and forget results no replay can need any more."""
        await self._db.migrate(SCHEMA)
        await self._db.run(self._prune)

    def _prune(self, c: sqlite3.Connection) -> None:
        """(Database thread) Forget results whose command expired KEEP_AFTER_EXPIRY_S ago."""
        now = self._clock.now().timestamp()
        c.execute(
            "DELETE FROM cmd_results WHERE expires < ? OR (expires IS NULL AND received < ?)",
            (now - KEEP_AFTER_EXPIRY_S, now - RESULT_RETENTION_S),
        )
        self._pruned_mono = self._clock.monotonic()

    def set_handler(self, name: str, handler: Handler) -> None:
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}: known {sorted(COMMANDS)}")
        self._handlers[name] = handler

    async def handle(self, topic: str, name: str, payload: bytes) -> CmdResBody:
        """Process one inbound command; the answer is also sent through `respond` (for a
        refusal before the signature check, only within UNVERIFIED_ANSWERS)."""
        try:
            result = await self._process(topic, name, payload)
        except Exception as exc:  # the last guard: every command gets an answer
            log.error("command_unanswerable", name=name, error=repr(exc))
            message = f"the gateway could not process this command: {type(exc).__name__}"
            result = CmdResBody(cmd_id=None, name=name, ok=False, code="failed", message=message)
        if isinstance(result, _Refused):
            refusal, result = result, result.answer
            if (
                not refusal.verified
                and self._unverified is not None
                and not self._unverified.take()
            ):
                self.unanswered += 1
                if self.unanswered % 1000 == 1:  # the first, then every 1000th
                    log.warning(
                        "command_refusals_unanswered", unanswered=self.unanswered,
                        name=name, code=result.code,
                    )  # fmt: skip
                return result
            log.warning(
                "command_refused", name=name, cmd_id=result.cmd_id, code=result.code,
                reason=result.message,
            )  # fmt: skip
        await self._respond(result)
        return result

    async def _process(self, topic: str, name: str, payload: bytes) -> CmdResBody | _Refused:
        def refuse(
            code: str, message: str, cmd_id: str | None = None, *, verified: bool = False
        ) -> _Refused:
            answer = CmdResBody(cmd_id=cmd_id, name=name, ok=False, code=code, message=message)
            return _Refused(answer, verified)

        if len(payload) > self._max_payload:
            return refuse(
                "too_large", f"payload is {len(payload)} bytes, limit {self._max_payload}"
            )
        too_deep = depth_problem(payload)
        if too_deep is not None:
            return refuse("malformed", f"{too_deep}; commands are flat JSON objects")
        try:
            obj = _decoder.decode(payload)
        # msgspec raises UnicodeDecodeError for bad UTF-8 in a string, RecursionError for
        # nesting the depth check let through (it cannot, but a refusal beats no answer).
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            return refuse("malformed", f"not valid JSON: {exc}")
        if not isinstance(obj, dict):
            return refuse("malformed", "a command must be a JSON object")
        raw_id = obj.get("cmd_id")
        cmd_id = raw_id if isinstance(raw_id, str) and 0 < len(raw_id) <= 128 else None
        kind = COMMANDS.get(name)
        if kind is None:
            return refuse(
                "unknown_command", f"known commands: {', '.join(sorted(COMMANDS))}", cmd_id
            )
        if name not in self._handlers:
            return refuse("not_supported", f"this gateway has no handler for {name}", cmd_id)
        try:
            cmd = msgspec.convert(obj, type=kind)
        except msgspec.ValidationError as exc:
            return refuse("invalid", str(exc), cmd_id)
        try:
            self._verifier.check(topic, obj, self._clock.now())
        except CommandRefused as exc:
            return refuse(exc.code, exc.message, cmd.cmd_id)
        too_long = self._lifetime_problem(cmd, self._clock.now())
        if too_long is not None:
            return refuse("lifetime_too_long", too_long, cmd.cmd_id, verified=True)
        return await self._once(name, cmd)

    def _lifetime_problem(self, cmd: Command, now: datetime) -> str | None:
        """Why `cmd` may live too long (a captured command must expire before its id is
        forgotten), or None. `issued_at` in the future cannot stretch it: `now` counts too."""
        bound = timedelta(seconds=min(self._max_lifetime_s(), LIFETIME_LIMIT_S))
        hours = f"{bound.total_seconds() / 3600:g} h"
        if cmd.issued_at is not None and cmd.expires_at - cmd.issued_at > bound:
            return (
                f"expires_at - issued_at is {cmd.expires_at - cmd.issued_at}, more than "
                f"{hours} (uplink.command_max_lifetime_s); send commands that expire sooner"
            )
        if cmd.expires_at - now > bound + timedelta(seconds=CLOCK_SKEW_S):
            return (
                f"expires_at is {cmd.expires_at - now} from now, more than {hours} "
                "(uplink.command_max_lifetime_s); send commands that expire sooner"
            )
        return None

    async def _once(self, name: str, cmd: Command) -> CmdResBody:
        """Execute `cmd` at most once per cmd_id; duplicates get the same answer."""
        running = self._running.get(cmd.cmd_id)
        if running is not None:
            return await asyncio.shield(running)
        stored = await self._db.run(
            lambda c: c.execute(
                "SELECT state, result FROM cmd_results WHERE cmd_id = ?", (cmd.cmd_id,)
            ).fetchone()
        )
        if stored is not None:
            state, blob = stored
            if state == "done" and blob is not None:
                log.info("command_duplicate", name=name, cmd_id=cmd.cmd_id)
                decoded: CmdResBody = _result_decoder.decode(blob)
                return decoded
            answer = CmdResBody(
                cmd_id=cmd.cmd_id,
                name=name,
                ok=False,
                code="interrupted",
                message="the gateway restarted while executing this command; it was not re-run",
            )
            await self._store(cmd, name, answer)
            return answer
        fut: asyncio.Future[CmdResBody] = asyncio.get_running_loop().create_future()
        self._running[cmd.cmd_id] = fut
        try:
            answer = await self._execute(name, cmd)
            fut.set_result(answer)
            return answer
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            del self._running[cmd.cmd_id]

    async def _execute(self, name: str, cmd: Command) -> CmdResBody:
        def answer(
            ok: bool, code: str, message: str = "", result: dict[str, Any] | None = None
        ) -> CmdResBody:
            return CmdResBody(
                cmd_id=cmd.cmd_id, name=name, ok=ok, code=code, message=message, result=result
            )

        now = self._clock.now()
        if cmd.expires_at <= now:
            res = answer(
                False, "expired", f"expired at {cmd.expires_at.isoformat()}, now {now.isoformat()}"
            )
            await self._store(cmd, name, res)
            return res
        if self._guardrail is not None:
            try:
                self._guardrail(cmd)
            except CommandRefused as exc:
                res = answer(False, exc.code, exc.message)
                await self._store(cmd, name, res)
                return res
        await self._mark_executing(cmd.cmd_id, name, cmd.expires_at.timestamp())
        log.info("command_executing", name=name, cmd_id=cmd.cmd_id)
        try:
            async with asyncio.timeout(self._timeout):
                result = await self._handlers[name](cmd)
            res = answer(True, "ok", "", result)
        except CommandRefused as exc:
            res = answer(False, exc.code, exc.message)
        except TimeoutError:
            res = answer(False, "timeout", f"handler did not finish within {self._timeout} s")
        except Exception as exc:
            log.error("command_failed", name=name, cmd_id=cmd.cmd_id, error=repr(exc))
            res = answer(False, "failed", f"{type(exc).__name__}: {exc}")
        await self._store(cmd, name, res)
        return res

    async def _mark_executing(self, cmd_id: str, name: str, expires: float | None = None) -> None:
        received = self._clock.now().timestamp()
        await self._db.run(
            lambda c: c.execute(
                "INSERT INTO cmd_results(cmd_id, name, state, received, expires) "
                "VALUES (?, ?, 'executing', ?, ?)",
                (cmd_id, name, received, expires),
            )
        )

    async def _store(self, cmd: Command, name: str, res: CmdResBody) -> None:
        received = self._clock.now().timestamp()
        expires = cmd.expires_at.timestamp()
        blob = _encoder.encode(res)
        due = (
            self._pruned_mono is None
            or self._clock.monotonic() - self._pruned_mono >= PRUNE_EVERY_S
        )

        def write(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO cmd_results(cmd_id, name, state, received, result, expires) "
                "VALUES (?, ?, 'done', ?, ?, ?) ON CONFLICT(cmd_id) DO UPDATE SET "
                "state = 'done', result = excluded.result, expires = excluded.expires",
                (cmd.cmd_id, name, received, blob, expires),
            )
            if due:
                self._prune(c)

        await self._db.run(write)
