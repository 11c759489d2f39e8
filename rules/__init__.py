"""Pure desired-state engine: (world, t) -> wanted value of every output at every level.

No I/O, no clock, no asyncio: edge/ owns time, storage and writes.
"""

from rules.emergency import emergency_outputs
from rules.engine import evaluate
from rules.evaluation import Cause, Evaluation, OutputState, Wanted
from rules.explain import Explanation, explain
from rules.levels import Level

__all__ = [
    "Cause",
    "Evaluation",
    "Explanation",
    "Level",
    "OutputState",
    "Wanted",
    "emergency_outputs",
    "evaluate",
    "explain",
]
