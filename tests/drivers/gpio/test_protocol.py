"""The remote GPIO protocol's frame codec: round trips, and refusal of anything else."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.gpio import FrameError
from drivers.gpio import protocol as p

LINES = st.integers(0, 1023)
IDS = st.integers(0, 2**31 - 1)
NAMES = st.text(max_size=100)

CLIENT_FRAMES = st.one_of(
    st.builds(p.Hello, v=st.integers(0, 65535), client=NAMES),
    st.builds(
        p.Request,
        id=IDS,
        lines=st.lists(
            st.builds(
                p.LineSpec,
                line=LINES,
                dir=st.sampled_from(["in", "out"]),
                pull=st.sampled_from(["up", "down", "off"]),
                level=st.booleans(),
            ),
            max_size=64,
        ),
    ),
    st.builds(p.Set, id=IDS, line=LINES, level=st.booleans()),
    st.builds(p.Get, id=IDS, line=LINES),
    st.builds(p.Release, id=IDS),
    st.builds(p.Ping, id=IDS),
)
SERVER_FRAMES = st.one_of(
    st.builds(p.Welcome, v=st.integers(0, 65535), server=NAMES),
    st.builds(p.Ok, id=IDS, level=st.none() | st.booleans()),
    st.builds(p.Refused, code=NAMES, message=st.text(max_size=500), id=st.none() | IDS),
    st.builds(p.Changed, line=LINES, level=st.booleans()),
)


@given(frame=CLIENT_FRAMES)
def test_client_frames_round_trip(frame: p.ClientFrame) -> None:
    """Every client frame the protocol allows decodes to itself, within MAX_FRAME."""
    wire = p.encode(frame)
    assert wire.endswith(b"\n") and wire.count(b"\n") == 1
    if len(wire) <= p.MAX_FRAME:
        assert p.decode_client(wire) == frame


@given(frame=SERVER_FRAMES)
def test_server_frames_round_trip(frame: p.ServerFrame) -> None:
    """Every server frame decodes to itself."""
    assert p.decode_server(p.encode(frame)) == frame


@given(data=st.binary(max_size=5000))
def test_arbitrary_bytes_decode_or_raise_frame_error(data: bytes) -> None:
    """Any bytes either decode into a frame or raise FrameError, never anything else."""
    for decode in (p.decode_client, p.decode_server):
        try:
            decode(data)
        except FrameError as exc:
            assert exc.detail


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, min_size=1)
    ),
    max_leaves=20,
)


@given(
    op=st.sampled_from(["hello", "request", "set", "get", "release", "ping", "ok", "x", ""]),
    fields=st.dictionaries(
        st.sampled_from(["id", "v", "line", "level", "lines", "dir", "client", "code", "junk"]),
        JSONISH,
    ),
)
def test_near_miss_objects_are_refused_cleanly(op: str, fields: dict[str, object]) -> None:
    """Objects with the right keys and wrong values decode or raise FrameError only."""
    data = json.dumps({"op": op, **fields}).encode()
    for decode in (p.decode_client, p.decode_server):
        try:
            frame = decode(data)
        except FrameError:
            continue
        assert p.encode(frame)  # what decoded is a well-formed frame


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"\r\n", "empty"),
        (b'{"op":"set","id":1,"line":1024,"level":true}', "<= 1023"),
        (b'{"op":"set","id":1,"line":3,"level":1}', "Expected `bool`"),
        (b'{"op":"set","id":-1,"line":3,"level":true}', ">= 0"),
        (b'{"op":"get","id":1,"line":3,"extra":0}', "unknown field `extra`"),
        (b'{"op":"teleport","id":1}', "Invalid value 'teleport'"),
        (b"\xff\xfe", "malformed"),
        (b'{"op":"ping","id":1}' + b" " * p.MAX_FRAME, f"at most {p.MAX_FRAME}"),
    ],
)
def test_bad_client_frames_name_the_problem(data: bytes, problem: str) -> None:
    with pytest.raises(FrameError, match=problem.replace("`", ".").replace("'", ".")):
        p.decode_client(data)


NO_NEWLINE = st.binary(max_size=3 * p.MAX_FRAME).map(lambda b: b.replace(b"\n", b""))


@given(lines=st.lists(NO_NEWLINE, max_size=6), tail=NO_NEWLINE, cut=st.integers(1, 5000))
def test_stream_framing_skips_oversize_frames_whole(
    lines: list[bytes], tail: bytes, cut: int
) -> None:
    """On a real asyncio stream with the protocol's limit, however the bytes arrive: every
    frame within the limit comes out whole, every longer one raises FrameError once and is
    skipped to its newline, the unterminated tail comes last, then the end."""
    stream = b"".join(line + b"\n" for line in lines) + tail
    limit = p.MAX_FRAME + 2

    async def run() -> list[bytes | None]:
        reader = asyncio.StreamReader(limit=limit)
        out: list[bytes | None] = []

        async def feed() -> None:
            for i in range(0, len(stream), cut):
                reader.feed_data(stream[i : i + cut])
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.create_task(feed())
        while True:
            try:
                frame = await p.read_frame(reader)
            except FrameError:
                out.append(None)
                continue
            if not frame:
                break
            out.append(frame)
        await feeder
        return out

    expected: list[bytes | None] = [x + b"\n" if len(x) <= limit else None for x in lines]
    if tail:
        expected.append(tail if len(tail) <= limit else None)
    assert asyncio.run(run()) == expected
