"""What the MQTT session reports about itself, kept for as long as the daemon runs.

The session writes it; `edgectl status`, the outbox command and the alarm detectors
read it. It outlives any one session, so it still says what happened after the
session stopped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class LinkState:
    running: bool = False
    """A session component exists (it may be disconnected)."""
    connected: bool = False
    broker: str = ""
    session: int = 0
    reconnects: int = 0
    last_error: str | None = None
    auth_failure: str | None = None
    """Set while the broker refuses the gateway's credentials (an alarm)."""
    rebirth_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to have the session publish a fresh `birth` (cmd/rebirth, a reload)."""

    resubscribe_wanted: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to subscribe again: the broker then re-sends the retained booking snapshot."""

    def request_resubscribe(self) -> None:
        """After a flood dropped inbound messages: a snapshot dropped with it comes again
        (MQTT re-sends retained messages on a repeated SUBSCRIBE)."""
        self.resubscribe_wanted.set()

    def request_rebirth(self) -> bool:
        """Ask for a fresh birth; False when no session is connected (one follows on
        connect anyway)."""
        self.rebirth_wanted.set()
        return self.connected
