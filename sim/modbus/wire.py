"""RTU wire-time model (Modbus over Serial Line v1.02): what a real RS-485 bus costs.

A pty moves bytes instantly whatever the baud rate, so the simulator delays each
reply by the time the request and the reply would take on the wire plus the
inter-frame silence and the slave's turnaround. The master (the bus engine) keeps
its own silence after each reply.
"""

from __future__ import annotations

from dataclasses import dataclass

BITS_PER_CHAR = 11  # start + 8 data + parity (or 2nd stop) + stop


def char_time(baudrate: int) -> float:
    return BITS_PER_CHAR / baudrate


def silence_time(baudrate: int) -> float:
    """The 3.5-character inter-frame gap (fixed at 1.75 ms above 19200 baud)."""
    return 3.5 * char_time(baudrate) if baudrate <= 19200 else 0.00175


def frame_time(nbytes: int, baudrate: int) -> float:
    return nbytes * char_time(baudrate)


@dataclass(frozen=True, slots=True)
class WireModel:
    """Delays of one RTU bus; `enabled=False` replies at once (plain pty)."""

    baudrate: int = 19200
    turnaround_s: float = 0.0
    enabled: bool = True

    def reply_delay(self, request_bytes: int, reply_bytes: int) -> float:
        """Request on the wire, the gap that ends it, turnaround, then the reply itself."""
        if not self.enabled:
            return self.turnaround_s
        return (
            frame_time(request_bytes, self.baudrate)
            + silence_time(self.baudrate)
            + self.turnaround_s
            + frame_time(reply_bytes, self.baudrate)
        )

    def transaction_time(self, request_bytes: int, reply_bytes: int) -> float:
        """The theoretical minimum for one transaction, including the master's final gap."""
        return self.reply_delay(request_bytes, reply_bytes) + silence_time(self.baudrate)
