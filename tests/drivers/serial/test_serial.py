"""Serial lines: the framer (property-based) and a reader on a real socat pty that vanishes."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.serial import LineFramer, PortStatus, ScannedLine, SerialLineReader
from edge.clock import SystemClock
from sim.modbus.pty import PtyPair

LINE_TEXT = st.text(
    alphabet=st.characters(
        min_codepoint=33,
        max_codepoint=0x2FFF,
        exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
    ),
    min_size=1,
    max_size=30,
)


@given(
    lines=st.lists(LINE_TEXT, max_size=10),
    sep=st.sampled_from([b"\r", b"\n", b"\r\n", b"\n\n"]),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_framer_recovers_lines_whatever_the_chunking(
    lines: list[str], sep: bytes, cuts: list[int]
) -> None:
    """Lines come out whole and in order however the byte stream is split."""
    stream = b"".join(line.encode() + sep for line in lines)
    framer = LineFramer(max_line=200)
    out = []
    prev = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        out += framer.feed(stream[prev:cut])
        prev = cut
    assert [line.text for line in out] == lines
    assert all(line.valid_utf8 for line in out)


@given(data=st.binary(max_size=2000), max_line=st.integers(1, 64))
def test_framer_never_crashes_and_bounds_lines(data: bytes, max_line: int) -> None:
    """Arbitrary bytes never raise; no emitted line exceeds max_line; text has no CR/LF."""
    framer = LineFramer(max_line=max_line)
    for line in framer.feed(data) + framer.feed(b"\n"):
        assert len(line.raw) <= max_line
        assert "\r" not in line.text and "\n" not in line.text and line.text


def test_oversize_and_invalid_bytes_are_counted() -> None:
    """An oversize line is dropped whole; bad UTF-8 is replaced and counted; partials reset."""
    framer = LineFramer(max_line=8)
    out = framer.feed(b"TOOLONGLINE123\r\nok1\n\xff\xfeAB\nhalf")
    assert [line.text for line in out] == ["ok1", "\ufffd\ufffdAB"]
    assert framer.stats.oversize_dropped == 1 and framer.stats.decode_errors == 1
    assert out[1].valid_utf8 is False
    framer.reset()
    assert framer.stats.partial_discarded == 1
    assert [line.text for line in framer.feed(b"x\n")] == ["x"]


@pytest.mark.skipif(shutil.which("socat") is None, reason="needs socat")
async def test_reader_survives_unplug_and_replug() -> None:
    """A scanner pty killed and recreated at the same path: lines flow again, events say so."""
    pair = PtyPair(name="scanner")
    await pair.start()
    events: list[object] = []
    try:
        async with SerialLineReader(
            str(pair.server_path),
            name="gate1",
            clock=SystemClock(),
            on_event=events.append,
            reconnect_max_s=0.3,
        ) as reader:

            async def wait(cond: object, within: float = 5.0) -> None:
                for _ in range(int(within / 0.02)):
                    if cond():  # type: ignore[operator]
                        return
                    await asyncio.sleep(0.02)
                raise AssertionError("timed out")

            def lines() -> list[str]:
                return [e.text for e in events if isinstance(e, ScannedLine)]

            await wait(lambda: reader.stats.connected)
            fd = os.open(pair.client_path, os.O_WRONLY | os.O_NOCTTY)
            os.write(fd, b"QR:PASS-0001\r\nnoise\x00\x07\xff\nQR:PASS-")
            await wait(lambda: len(lines()) == 2)
            os.close(fd)
            await pair.stop()  # unplugged mid-line
            await wait(lambda: any(isinstance(e, PortStatus) and not e.connected for e in events))
            await asyncio.sleep(0.3)
            await pair.start()  # plugged back at the same path
            await wait(lambda: reader.stats.connects == 2)
            fd = os.open(pair.client_path, os.O_WRONLY | os.O_NOCTTY)
            os.write(fd, b"QR:PASS-0002\n")
            await wait(lambda: len(lines()) == 3)
            os.close(fd)
            assert lines() == ["QR:PASS-0001", "noise\ufffd", "QR:PASS-0002"]
            assert reader.framer_stats.partial_discarded == 1
    finally:
        await pair.close()
