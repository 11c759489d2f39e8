"""Which components a config asks for, each keyed by the part of the config it uses.

On reload the daemon compares keys: a component whose slice of the config did not
change keeps running (healthy bus connections are not dropped); the others are
replaced, started or stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from edge.config.model import VenueConfig
from edge.control.server import ControlServer, Handler
from edge.storage import Database
from edge.supervisor import Component

if TYPE_CHECKING:
    from edge.daemon import Daemon


@dataclass
class Runtime:
    """What components share: the daemon (config, clock, supervisor) and the database."""

    daemon: Daemon
    db: Database


@dataclass(frozen=True)
class Spec:
    key: bytes
    make: Callable[[], Component]


def _key(*parts: Any) -> bytes:
    return msgspec.json.encode(parts)


def plan(config: VenueConfig, rt: Runtime) -> dict[str, Spec]:
    """The components for `config`, in start order."""
    runtime_dir = Path(config.storage.runtime_dir)
    return {
        "control": Spec(
            _key(config.storage.runtime_dir),
            lambda: ControlServer(runtime_dir, control_handlers(rt)),
        ),
    }


def control_handlers(rt: Runtime) -> dict[str, Handler]:
    d = rt.daemon

    async def ping(args: dict[str, Any], user: str) -> Any:
        return "pong"

    async def status(args: dict[str, Any], user: str) -> Any:
        return {
            "site": d.config.site.id,
            "gateway": d.config.site.gateway,
            "uptime_s": round(d.clock.monotonic() - d.started_mono, 1),
            "config_version": d.config_version,
            "config_path": str(d.config_path),
            "now": d.clock.now().isoformat(),
            "components": d.supervisor.health(),
            "database": {
                "path": str(rt.db.path),
                "recovered_from": str(rt.db.report.recovered_from or "") or None,
            },
        }

    async def reload(args: dict[str, Any], user: str) -> Any:
        ok = await d.reload()
        return {"reloaded": ok, "config_version": d.config_version}

    return {"ping": ping, "status": status, "reload": reload}
