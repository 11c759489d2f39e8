"""The few exceptions of the simulator; each carries its data as attributes."""

from __future__ import annotations

from collections.abc import Iterable


class SimError(Exception):
    """Base class for every error raised by `sim`."""


class FaultError(SimError, ValueError):
    """A fault (or scan) request that cannot be applied: names what is wrong and the valid choices.

    `what` is the part of the request at fault (`kind`, `target`, a parameter name);
    `choices` lists what would have been accepted there.
    """

    def __init__(self, what: str, problem: str, choices: Iterable[str] = ()) -> None:
        self.what = what
        self.problem = problem
        self.choices = sorted(choices)
        text = f"{what}: {problem}"
        if self.choices:
            shown = ", ".join(self.choices[:40])
            more = f" (and {len(self.choices) - 40} more)" if len(self.choices) > 40 else ""
            text += f"; valid choices: {shown}{more}"
        super().__init__(text)


class SimConfigError(SimError):
    """The venue config or the simulation parameters cannot be simulated; `where` names the spot."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem
