"""Every example message in docs/mqtt.md is valid against the shipped schemas.

Read from the doc's own ```json blocks, checked with the cloud emulator's JSON Schema
check (the consumer's side, not the producer's types): an example the gateway could not
send, or a field the doc shows that the contract no longer has, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from edge.uplink import schemas
from sim.cloud import schema_errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "mqtt.md"


def examples() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S):
        text, i = block.strip(), 0
        if not text.startswith("{") or ", ...}" in text:
            continue  # a fragment, or an envelope sketch with its body elided
        while i < len(text):
            obj, end = decoder.raw_decode(text, i)
            found.append(obj)
            i = end
            while i < len(text) and text[i].isspace():
                i += 1
    return found


def errors(example: dict[str, Any], stream: str) -> list[str]:
    schema = schemas.load(stream)
    return schema_errors(example, schema, schema)


def test_every_upstream_example_in_the_doc_is_valid() -> None:
    upstream = [e for e in examples() if "stream" in e]
    streams = {e["stream"] for e in upstream}
    # Every queued stream and the retained ones have at least one example.
    assert {"state", "event", "alarm", "energy", "summary", "cmd_res", "birth"} <= streams
    for example in upstream:
        problems = errors(example, example["stream"])
        assert not problems, f"docs/mqtt.md {example['stream']} example: {problems}"


def test_a_wrong_example_would_be_caught() -> None:
    """The check is real: an alarm with an action the contract does not have fails."""
    alarm = next(e for e in examples() if e.get("stream") == "alarm")
    assert errors({**alarm, "action": "raised"}, "alarm")
    energy = next(e for e in examples() if e.get("stream") == "energy")
    assert errors({**energy, "kind": "interval"}, "energy")
    assert errors({**energy, "colour": "red"}, "energy")
