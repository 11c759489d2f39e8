"""Serial line readers for scanners and terminals: `SerialLineReader`, `LineFramer`."""

from __future__ import annotations

from .framer import FramerStats, Line, LineFramer
from .reader import PortStatus, ReaderStats, ScannedLine, SerialEvent, SerialLineReader

__all__ = [
    "FramerStats",
    "Line",
    "LineFramer",
    "PortStatus",
    "ReaderStats",
    "ScannedLine",
    "SerialEvent",
    "SerialLineReader",
]
