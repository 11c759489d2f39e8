"""Credential readers on serial lines and TCP: `SerialLineReader`, `TcpLineReader` (client
mode), `TcpLineServer` (server mode), all framed by `LineFramer`."""

from __future__ import annotations

from .framer import FramerStats, Line, LineFramer
from .reader import PortStatus, ReaderStats, ScannedLine, SerialEvent, SerialLineReader
from .tcp import TcpLineReader, TcpLineServer, TcpServerStats

__all__ = [
    "FramerStats",
    "Line",
    "LineFramer",
    "PortStatus",
    "ReaderStats",
    "ScannedLine",
    "SerialEvent",
    "SerialLineReader",
    "TcpLineReader",
    "TcpLineServer",
    "TcpServerStats",
]
