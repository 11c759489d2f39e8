"""docs/edgectl.md's two-minute triage, run as written at 80 columns against the example
venue: every id a later step types appears whole in an earlier step's output, and every
id a step's answer carries (its `--json` twin) appears whole in its table.

The example venue (`examples/venue.toml`, ~120 devices on two RTU buses, a TCP gateway
and serial readers) runs in `edge-sim run` in its own process; edged runs on the
simulator's runtime config. The test sets the stage the docs assume: one device offline
(its `comm_lost` alarm open), a booking of court-a3 in progress, a pass refused at the
main gate.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.venue import ENV, ROOT, running_edged
from tests.simday import seed

WIDTH = 80
DOCS = ROOT / "docs" / "edgectl.md"
OFFLINE_DEVICE = "fcu-exhibition6"
BOOKING = "B-07151900-court-a3"
ID_KEYS = {"alarm_id", "id", "point", "output", "booking_id", "booking", "subject", "pass_id",
           "gate", "zone", "device", "bus"}  # fmt: skip
"""Keys of the JSON answers whose values a technician types into a later command."""
MUTATING = {("alarms", "ack")}


def triage_lines() -> list[list[str]]:
    """The commands of the docs' triage block, as argument lists (without `edgectl`)."""
    text = DOCS.read_text()
    block = re.search(r"## Two-minute triage\n.*?```\n(.*?)```", text, re.S)
    assert block is not None, "docs/edgectl.md lost its triage block"
    lines = [line.split("#")[0].strip() for line in block[1].splitlines()]
    commands = [shlex.split(line) for line in lines if line]
    assert all(c[0] == "edgectl" for c in commands)
    return [c[1:] for c in commands]


def typed_ids(args: list[str]) -> list[str]:
    """The ids a command line types: positional words after the verb, and option values."""
    out, skip = [], False
    for i, word in enumerate(args):
        if skip:
            skip = False
            continue
        if word.startswith("--"):
            if word in ("--device", "--zone", "--booking", "--ref") and i + 1 < len(args):
                out.append(args[i + 1])
            skip = word not in ("--wide", "--json", "--force", "--zero-based", "--direct")
            continue
        if "." in word or ":" in word:  # DEVICE.POINT, an alarm id
            out.append(word)
    return out


def ids_in(answer: Any) -> Iterator[str]:
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key in ID_KEYS and isinstance(value, str) and value:
                yield value
            else:
                yield from ids_in(value)
    elif isinstance(answer, list):
        for item in answer:
            yield from ids_in(item)


def edgectl(run: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "--runtime-dir", str(run), *args],
        env={**ENV, "COLUMNS": str(WIDTH)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def edge_sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """`edge-sim run` of the example venue: (its runtime config, its control socket)."""
    sock = tmp_path / "sim.sock"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "run",
            "--config",
            "examples/venue.toml",
            "--socket",
            str(sock),
            "--workdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        config = None
        for line in proc.stdout:
            if "runtime config:" in line:
                config = Path(line.split("runtime config:")[1].strip())
            if "stop with Ctrl-C" in line:
                break
        assert config is not None, "edge-sim run did not start"
        yield config, sock
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def venue(tmp_path: Path, simulator: tuple[Path, Path]) -> AsyncIterator[Path]:
    """edged on the simulated example venue, in the state the triage assumes: its run dir."""
    config, sock = simulator
    text = config.read_text()
    assert "[alarms]" not in text
    text += "\n[alarms]\ncomm_lost_after_s = 1.0\n"  # not a minute: the test waits for it
    now = datetime.now(UTC)
    state = tmp_path / "state"
    await seed(state, [(BOOKING, "court-a3", now - timedelta(minutes=20), now + timedelta(hours=1),
                        "confirmed")])  # fmt: skip
    fault = await asyncio.to_thread(edge_sim, "fault", "--socket", str(sock), "offline",
                                    OFFLINE_DEVICE)  # fmt: skip
    assert fault.returncode == 0, fault.stderr
    async with running_edged(tmp_path, text) as (run, _, _):
        scan = await asyncio.to_thread(edge_sim, "scan", "--socket", str(sock), "qr-main",
                                       "not-a-pass")  # fmt: skip
        assert scan.returncode == 0, scan.stderr
        for _ in range(240):
            out = await asyncio.to_thread(edgectl, run, "--json", "alarms")
            ids = [a["alarm_id"] for a in json.loads(out.stdout)] if out.returncode == 0 else []
            if f"comm_lost:{OFFLINE_DEVICE}" in ids:
                break
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"no comm_lost alarm for {OFFLINE_DEVICE}: {out.stdout} {out.stderr}")
        yield run


async def run_step(run: Path, args: list[str]) -> tuple[str, set[str]]:
    """The step's human output at 80 columns, and the ids of its JSON answer missing from
    it. The JSON is asked first: the venue lives on, and an entry that arrives in between
    shows in the later (human) answer; a step is asked again if an alarm cleared meanwhile."""
    for _ in range(3):
        ids: set[str] = set()
        if tuple(args[:2]) not in MUTATING:
            answer = await asyncio.to_thread(edgectl, run, "--json", *args)
            assert answer.returncode == 0, (args, answer.stderr)
            ids = set(ids_in(json.loads(answer.stdout)))
        human = await asyncio.to_thread(edgectl, run, *args)
        assert human.returncode == 0, (args, human.stderr)
        wide = [line for line in human.stdout.splitlines() if len(line) > WIDTH]
        assert not wide, (args, wide)
        missing = {i for i in ids if i not in human.stdout}
        if not missing:
            break
    return human.stdout, missing


async def test_triage_at_80_columns_keeps_every_id_whole(venue: Path) -> None:
    """Each documented step runs; its table keeps its ids whole within 80 columns; the ids
    the later steps type appeared whole in an earlier step's output."""
    seen = ""
    for args in triage_lines():
        for typed in typed_ids(args):
            assert typed in seen, f"`edgectl {shlex.join(args)}` types {typed!r}: not shown before"
        out, missing = await run_step(venue, args)
        assert not missing, (args, sorted(missing), out)
        print(f"$ edgectl {shlex.join(args)}\n{out}")
        seen += out
    # --wide: every column whole, wider than the terminal.
    narrow = await asyncio.to_thread(edgectl, venue, "journal", "--zone", "court-a3")
    wide = await asyncio.to_thread(edgectl, venue, "--wide", "journal", "--zone", "court-a3")
    assert "hidden at 80 columns" in narrow.stdout and "hidden at" not in wide.stdout
    assert "…" in narrow.stdout and "…" not in wide.stdout
    assert "level=booking" in wide.stdout and " kind " in wide.stdout
