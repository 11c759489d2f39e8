"""A simulated unit (one Modbus device id) and its fault switches."""

from __future__ import annotations

from dataclasses import dataclass, field

from .bank import RegisterBank


@dataclass
class SimUnit:
    """One unit id answering on a bus. The fault switches can be flipped at any time:

    - `offline`: no reply at all (the master times out);
    - `slow_s`: extra delay before every reply;
    - `garbage`: replies are corrupted (bad CRC on RTU, truncated frame on TCP);
    - `exception_code`: every request is answered with this Modbus exception (e.g. 4);
    - `answer_as`: replies carry this unit id instead of its own (a misconfigured slave).
    `requests` counts the requests this unit received (including unanswered ones).
    """

    unit_id: int
    bank: RegisterBank = field(default_factory=RegisterBank)
    offline: bool = False
    slow_s: float = 0.0
    garbage: bool = False
    exception_code: int | None = None
    answer_as: int | None = None
    requests: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.unit_id <= 247:
            raise ValueError(f"unit_id {self.unit_id} must be 0..247")

    def heal(self) -> None:
        """Clear every fault."""
        self.offline = self.garbage = False
        self.slow_s = 0.0
        self.exception_code = None
        self.answer_as = None
