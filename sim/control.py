"""The running simulator's control socket: faults, scans and ground truth from another process.

One JSON object per line on a unix socket (like edgectl <-> edged):
  {"op": "fault", "kind": "lamp_failure", "target": "lights-a3", "params": {"channel": 3}}
  {"op": "scan", "reader": "qr-main", "payload": "..."}
  {"op": "occupancy", "zone": "reading", "people": 35}
  {"op": "truth"}   {"op": "list"}   {"op": "ping"}
Reply: {"ok": true, "result": ...} or {"ok": false, "error": "...", "choices": [...]}.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import structlog

from .errors import FaultError, SimError
from .faults import KINDS
from .venue import SimVenue

log = structlog.get_logger("sim.control")

MAX_LINE = 64 * 1024


def default_socket_path() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(base) / f"edge-sim-{os.getuid()}.sock"


async def _handle(venue: SimVenue, req: dict[str, Any]) -> Any:
    op = req.get("op")
    if op == "ping":
        return "pong"
    if op == "fault":
        params = req.get("params") or {}
        if not isinstance(params, dict):
            raise FaultError("params", "must be an object of NAME: VALUE")
        target = req.get("target")
        kind = str(req.get("kind", ""))
        return await venue.fault(kind, None if target is None else str(target), **params)
    if op == "scan":
        venue.scan(str(req.get("reader", "")), str(req.get("payload", "")))
        return "sent"
    if op == "occupancy":
        people = req.get("people")
        venue.set_occupancy(str(req.get("zone", "")), None if people is None else float(people))
        return "set"
    if op == "truth":
        return venue.truth.snapshot()
    if op == "list":
        t = venue.targets
        return {
            "faults": sorted(KINDS),
            "devices": dict(t.devices),
            "buses": sorted(t.buses),
            "readers": sorted(venue.readers),
            "zones": sorted(venue.world.topology.air_of),
            "runtime_config": str(venue.runtime_config_path),
        }
    raise FaultError("op", f"unknown op {op!r}", ["fault", "scan", "occupancy", "truth", "list"])


@contextlib.asynccontextmanager
async def serve_control(venue: SimVenue, path: Path) -> AsyncIterator[Path]:
    """Listen on `path` until the block exits (the socket file is removed afterwards)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                reply: dict[str, Any]
                try:
                    if len(line) > MAX_LINE:
                        raise FaultError("request", f"longer than {MAX_LINE} bytes")
                    req = json.loads(line)
                    if not isinstance(req, dict):
                        raise FaultError("request", "must be a JSON object")
                    reply = {"ok": True, "result": await _handle(venue, req)}
                except FaultError as exc:
                    reply = {"ok": False, "error": str(exc), "choices": exc.choices}
                except (SimError, ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                except Exception as exc:  # a bug: answer and keep serving the others
                    log.exception("control_request_failed")
                    reply = {"ok": False, "error": f"internal error: {exc!r}"}
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    _remove(path)
    server = await asyncio.start_unix_server(client, path=str(path), limit=MAX_LINE + 2)
    os.chmod(path, 0o600)  # only this user may inject faults
    try:
        yield path
    finally:
        server.close()
        await server.wait_closed()
        _remove(path)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def request(path: Path, req: dict[str, Any], within: float = 10.0) -> dict[str, Any]:
    """Send one request to a running simulator; raises SimError when nobody listens."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=16 * 1024 * 1024), within
        )
    except (OSError, TimeoutError) as exc:
        raise SimError(
            f"no simulator is listening on {path} ({exc}); start one with `edge-sim run`"
        ) from exc
    try:
        writer.write(json.dumps(req).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), within)
    finally:
        writer.close()
    if not line:
        raise SimError(f"the simulator on {path} closed the connection")
    reply: dict[str, Any] = json.loads(line)
    return reply
