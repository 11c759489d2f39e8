"""What a backend is asked to set up on one GPIO line."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Pull = Literal["up", "down", "off"]
"""Internal bias of an input line."""

MAX_LINE = 1023
"""Highest line offset accepted anywhere (a Pi's chip has 54; big SoCs a few hundred)."""


class Direction(StrEnum):
    INPUT = "in"
    OUTPUT = "out"


@dataclass(frozen=True, slots=True)
class LineConfig:
    """One line to request. Values through a backend are logical: with `active_low` the
    electrical level is the inverse (a relay board switched by a low pin; a contact that
    pulls a pulled-up pin low)."""

    line: int
    """Line offset on the chip (on a Raspberry Pi: the BCM GPIO number)."""
    direction: Direction
    active_low: bool = False
    pull: Pull = "off"
    """Bias for inputs; outputs ignore it."""
    initial: bool = False
    """Outputs: the logical value set at the moment the line is requested (off is safe)."""

    def __post_init__(self) -> None:
        if not 0 <= self.line <= MAX_LINE:
            raise ValueError(f"GPIO line {self.line}: must be 0..{MAX_LINE}")
        if self.pull not in ("up", "down", "off"):
            raise ValueError(f"GPIO line {self.line}: pull {self.pull!r} is not up/down/off")

    @property
    def is_output(self) -> bool:
        return self.direction is Direction.OUTPUT

    def level(self, value: bool) -> bool:
        """The electrical level (True = high) of a logical value on this line."""
        return value != self.active_low
