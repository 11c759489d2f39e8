"""JSON Schemas of the MQTT contract, generated from `edge.uplink.contract` and shipped here.

Regenerate with `python -m edge.uplink.schemas`; a test fails when the files are stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from edge.bookings.model import BookingDelta, BookingSnapshot
from edge.uplink.contract import (
    COMMANDS,
    Alarm,
    Birth,
    BirthPart,
    CmdRes,
    Energy,
    Event,
    State,
    Status,
    Summary,
)

DIR = Path(__file__).parent

# File stem -> type. Outbound stream names match topics; inbound ones are prefixed.
TYPES: dict[str, Any] = {
    "status": Status,
    "birth": Birth,
    "birth_part": BirthPart,
    "state": State,
    "event": Event,
    "alarm": Alarm,
    "energy": Energy,
    "summary": Summary,
    "cmd_res": CmdRes,
    "bookings": BookingSnapshot,
    "bookings_delta": BookingDelta,
    **{f"cmd_{name}": kind for name, kind in COMMANDS.items()},
}


def generate() -> dict[str, str]:
    """File name -> schema text, deterministic (sorted keys, trailing newline)."""
    out: dict[str, str] = {}
    for stem, kind in TYPES.items():
        schema = msgspec.json.schema(kind)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"edge/v1/{stem}.json"
        out[f"{stem}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def load(stem: str) -> dict[str, Any]:
    """The shipped schema `stem` (e.g. `state`, `cmd_set_point`)."""
    data: dict[str, Any] = json.loads((DIR / f"{stem}.json").read_text(encoding="utf-8"))
    return data


def write(directory: Path = DIR) -> list[Path]:
    written = []
    for name, text in generate().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
