"""Talks to a running edged over its unix socket (JSON lines, see edge.control.protocol)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from edge.control.protocol import MAX_LINE, SOCKET_NAME, VERSION


class DaemonUnavailable(Exception):
    """edged is not running, not reachable, or not answering; the message says what to do."""


class DaemonNotRunning(DaemonUnavailable):
    """No edged listens on the socket (none, or a stale one): nothing owns the buses."""


class DaemonRefused(Exception):
    """edged answered with an error."""

    def __init__(self, error: str, hint: str | None, code: str | None = None) -> None:
        super().__init__(error)
        self.hint = hint
        self.code = code


def call(
    runtime_dir: Path, cmd: str, args: dict[str, Any] | None = None, timeout_s: float = 5.0
) -> Any:
    path = runtime_dir / SOCKET_NAME
    request = {"v": VERSION, "cmd": cmd, "args": args or {}}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except FileNotFoundError:
            raise DaemonNotRunning(
                f"edged is not running (no socket at {path}); start it with "
                "`systemctl start edged` or check `journalctl -u edged`"
            ) from None
        except PermissionError:
            raise DaemonUnavailable(
                f"not allowed to open {path}; join the 'edge' group "
                "(`sudo usermod -aG edge $USER`, then log in again) or use sudo"
            ) from None
        except ConnectionRefusedError:
            raise DaemonNotRunning(
                f"edged is not running (stale socket at {path}); see `journalctl -u edged`"
            ) from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(MAX_LINE)
            if not chunk:
                raise DaemonUnavailable("edged closed the connection without answering")
            buf += chunk
    except TimeoutError:
        raise DaemonUnavailable(
            f"edged did not answer within {timeout_s:g} s (it may be hung; "
            "systemd's watchdog restarts it; see `journalctl -u edged`)"
        ) from None
    finally:
        sock.close()
    response = json.loads(buf)
    if not response.get("ok"):
        raise DaemonRefused(str(response.get("error")), response.get("hint"), response.get("code"))
    return response.get("result")
