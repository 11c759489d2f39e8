"""edgectl <-> edged wire protocol: one JSON object per line, versioned.

Request:  {"v": 1, "cmd": "status", "args": {...}}
Response: {"v": 1, "ok": true, "result": ...}
      or  {"v": 1, "ok": false, "error": "...", "hint": "...", "code": "out_of_range"}

The daemon knows who asks from the socket's peer credentials; a `user` in the request
(older clients) is ignored.
"""

from __future__ import annotations

from typing import Any

import msgspec

VERSION = 1
MAX_LINE = 64 * 1024
SOCKET_NAME = "edged.sock"


class Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    v: int
    cmd: str
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    user: str = ""


class Response(msgspec.Struct, frozen=True, omit_defaults=True):
    v: int
    ok: bool
    result: Any = None
    error: str | None = None
    hint: str | None = None
    code: str | None = None
