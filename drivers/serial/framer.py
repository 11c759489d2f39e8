"""CR/LF line framing for scanners and terminals, tolerant of anything on the wire.

CR, LF and CRLF all end a line; empty lines are skipped. A line longer than
`max_line` bytes is dropped whole (up to its terminator) and counted, so a
stuck or noisy line can neither grow memory nor be half-delivered. Bytes that
are not UTF-8 are replaced (U+FFFD) and counted; control characters other than
tab are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

_CONTROL = {c: None for c in range(32) if c != 9} | {127: None}


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    raw: bytes
    valid_utf8: bool


@dataclass(slots=True)
class FramerStats:
    lines: int = 0
    oversize_dropped: int = 0
    decode_errors: int = 0
    partial_discarded: int = 0


class LineFramer:
    def __init__(self, max_line: int = 512) -> None:
        if max_line < 1:
            raise ValueError("max_line must be >= 1")
        self.max_line = max_line
        self.stats = FramerStats()
        self._buf = bytearray()
        self._skipping = False  # inside an oversize line: drop until its terminator

    def feed(self, data: bytes) -> list[Line]:
        out: list[Line] = []
        # Every CR and every LF ends a line (CRLF leaves an empty one, skipped): split in C.
        *ended, rest = data.replace(b"\r", b"\n").split(b"\n")
        for chunk in ended:
            self._take(chunk)
            self._end_line(out)
        self._take(rest)
        return out

    def _take(self, chunk: bytes) -> None:
        if self._skipping or not chunk:
            return
        if len(self._buf) + len(chunk) > self.max_line:
            self._buf.clear()
            self._skipping = True
            self.stats.oversize_dropped += 1
            return
        self._buf += chunk

    def _end_line(self, out: list[Line]) -> None:
        if self._skipping:
            self._skipping = False
            return
        if not self._buf:
            return  # empty line, or the LF of a CRLF
        raw = bytes(self._buf)
        self._buf.clear()
        try:
            text = raw.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            valid = False
            self.stats.decode_errors += 1
        text = text.translate(_CONTROL).strip()
        if text:
            self.stats.lines += 1
            out.append(Line(text, raw, valid))

    def reset(self) -> None:
        """Forget a partial line (the device went away mid-line)."""
        if self._buf or self._skipping:
            self.stats.partial_discarded += 1
        self._buf.clear()
        self._skipping = False
