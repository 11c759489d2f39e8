"""Probe parsers and requests: byte fixtures, and hypothesis on every parser."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.netprobe.settings import NetDevice, NetDeviceKind, ProbeKind
from drivers.netprobe.wire import (
    MAX_BODY_BYTES,
    ONVIF_BODY,
    ProtocolError,
    Reply,
    body_length,
    check_http,
    check_rtsp,
    chunk_size,
    http_head,
    onvif_request,
    parse_head,
    parse_onvif_time,
    rtsp_options,
)

ONVIF_OK = b"""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"
 xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">
<SOAP-ENV:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>
<tt:UTCDateTime><tt:Time><tt:Hour>11</tt:Hour><tt:Minute>4</tt:Minute><tt:Second>59</tt:Second>
</tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>7</tt:Month><tt:Day>15</tt:Day></tt:Date>
</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></SOAP-ENV:Body>
</SOAP-ENV:Envelope>"""

ONVIF_FAULT = b"""<?xml version="1.0"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault>
<s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text xml:lang="en">Not Authorized
</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>"""


def test_rtsp_options_reply_is_checked() -> None:
    """`RTSP/1.0 200` echoing our CSeq is alive; 503, another CSeq or HTTP are not."""
    head = b"RTSP/1.0 200 OK\r\nCSeq: 7\r\nPublic: OPTIONS, DESCRIBE, PLAY"
    reply = parse_head(head, "RTSP")
    assert (reply.protocol, reply.status, reply.reason) == ("RTSP/1.0", 200, "OK")
    assert reply.headers["public"].startswith("OPTIONS")
    check_rtsp(reply, 7)
    with pytest.raises(ProtocolError, match="CSeq"):
        check_rtsp(reply, 8)
    with pytest.raises(ProtocolError, match=r"RTSP/1.0 503 Service Unavailable"):
        check_rtsp(parse_head(b"RTSP/1.0 503 Service Unavailable\r\nCSeq: 1", "RTSP"), 1)
    with pytest.raises(ProtocolError, match="expected a RTSP reply, got HTTP"):
        parse_head(b"HTTP/1.1 200 OK", "RTSP")
    with pytest.raises(ProtocolError, match="not a RTSP status line"):
        parse_head(b"SSH-2.0-OpenSSH_9.2", "RTSP")


def test_http_head_reply_is_alive_below_500() -> None:
    """200, redirects and 401 mean a web server answers; 5xx is a failure."""
    for status in (200, 302, 401, 404):
        check_http(parse_head(f"HTTP/1.1 {status} X\r\nServer: cam".encode(), "HTTP"))
    with pytest.raises(ProtocolError, match=r"HTTP/1.0 500"):
        check_http(parse_head(b"HTTP/1.0 500 Internal Server Error", "HTTP"))


def test_headers_and_lengths() -> None:
    """Header names are case-blind; bad or conflicting lengths are refused."""
    reply = parse_head(b"HTTP/1.1 200 OK\r\nCONTENT-LENGTH:  12 \r\nX-A: b", "HTTP")
    assert body_length(reply) == 12 and reply.headers["x-a"] == "b"
    assert body_length(parse_head(b"HTTP/1.1 200 OK", "HTTP")) is None
    with pytest.raises(ProtocolError, match="Content-Length"):
        body_length(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1", "HTTP"))
    with pytest.raises(ProtocolError, match="limit"):
        body_length(parse_head(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY_BYTES + 1}"
                               .encode(), "HTTP"))  # fmt: skip
    with pytest.raises(ProtocolError, match="conflicting"):
        parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2", "HTTP")
    with pytest.raises(ProtocolError, match="malformed header"):
        parse_head(b"HTTP/1.1 200 OK\r\nno colon here", "HTTP")
    assert chunk_size(b"1a;ext=1\r\n") == 26
    with pytest.raises(ProtocolError, match="chunk"):
        chunk_size(b"zz\r\n")


def test_onvif_answer_gives_the_device_clock() -> None:
    """GetSystemDateAndTime: UTC time parsed; a SOAP fault or another document is not alive."""
    assert parse_onvif_time(ONVIF_OK) == datetime(2026, 7, 15, 11, 4, 59, tzinfo=UTC)
    with pytest.raises(ProtocolError, match="SOAP fault: s:Sender Not Authorized"):
        parse_onvif_time(ONVIF_FAULT)
    with pytest.raises(ProtocolError, match="not XML"):
        parse_onvif_time(b"<html>")
    with pytest.raises(ProtocolError, match=r"SOAP 1.2 envelope"):
        parse_onvif_time(b"<html/>")
    no_answer = ONVIF_OK.replace(b"GetSystemDateAndTimeResponse", b"GetUsersResponse")
    with pytest.raises(ProtocolError, match="no GetSystemDateAndTimeResponse"):
        parse_onvif_time(no_answer)
    local_only = ONVIF_OK.replace(b"UTCDateTime", b"LocalDateTime")
    assert parse_onvif_time(local_only) is None
    with pytest.raises(ProtocolError, match="not a date"):
        parse_onvif_time(ONVIF_OK.replace(b"<tt:Month>7<", b"<tt:Month>13<"))


def test_onvif_answer_with_a_dtd_is_refused_before_parsing() -> None:
    """Entity expansion cannot reach the XML parser: SOAP allows no DTD."""
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
    )
    with pytest.raises(ProtocolError, match="DTD"):
        parse_onvif_time(bomb)


def test_requests_are_well_formed() -> None:
    """The three requests a camera receives, byte for byte where it matters."""
    assert rtsp_options("10.0.5.21", 554, "/", 3) == (
        b"OPTIONS rtsp://10.0.5.21:554/ RTSP/1.0\r\nCSeq: 3\r\nUser-Agent: edged-netprobe\r\n\r\n"
    )
    assert http_head("cam1.local", 80, "/").startswith(
        b"HEAD / HTTP/1.1\r\nHost: cam1.local:80\r\n"
    )
    assert b"Host: [fd00::5]:8080" in http_head("fd00::5", 8080, "/")
    post = onvif_request("10.0.5.21", 80, "/onvif/device_service")
    head, _, body = post.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /onvif/device_service HTTP/1.1\r\n")
    assert f"Content-Length: {len(ONVIF_BODY)}".encode() in head and body == ONVIF_BODY
    assert b"GetSystemDateAndTime" in body


def test_settings_refuse_what_cannot_work() -> None:
    """Each bad setting is a ValidationError naming the field and what is allowed."""
    cam = NetDevice(name="cam-01", host="10.0.5.21")
    assert (cam.probe, cam.effective_port, cam.effective_path) == (ProbeKind.RTSP, 554, "/")
    assert cam.role == "camera.online"
    onvif = NetDevice(name="nvr-1", host="nvr", probe=ProbeKind.ONVIF, kind=NetDeviceKind.NVR)
    assert (onvif.effective_port, onvif.effective_path, onvif.role) == (
        80,
        "/onvif/device_service",
        "nvr.online",
    )
    for bad, needle in (
        ({"host": "10.0.5.21/x"}, "host"),
        ({"probe": "tcp"}, "needs `port`"),
        ({"port": 70000}, "port"),
        ({"path": "x"}, "path"),
        ({"fail_after": 0}, "fail_after"),
        ({"timeout_s": 10.0, "interval_s": 5.0}, "shorter than interval_s"),
        ({"probe": "icmp"}, "probe"),
        ({"kind": "doorbell"}, "kind"),
        ({"colour": "red"}, "colour"),
    ):
        with pytest.raises(msgspec.ValidationError, match=needle):
            msgspec.convert({"name": "cam-01", "host": "10.0.5.21", **bad}, NetDevice)


# ---- fuzz ------------------------------------------------------------------------------
HEADISH = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda proto, code, rest: f"{proto} {code} ".encode() + rest,
        st.sampled_from(["RTSP/1.0", "HTTP/1.1", "HTTP/1.0", "RTSP/2.0"]),
        st.integers(0, 1000),
        st.binary(max_size=200),
    ),
)


@given(head=HEADISH, protocol=st.sampled_from(["RTSP", "HTTP"]), cseq=st.integers(0, 99))
def test_reply_heads_never_crash(head: bytes, protocol: str, cseq: int) -> None:
    """Any bytes are a Reply (that the checks accept or refuse) or a ProtocolError."""
    try:
        reply = parse_head(head, protocol)
    except ProtocolError:
        return
    assert isinstance(reply, Reply) and 0 <= reply.status <= 999
    with contextlib.suppress(ProtocolError):
        check_rtsp(reply, cseq)
    with contextlib.suppress(ProtocolError):
        check_http(reply)
    with contextlib.suppress(ProtocolError):
        n = body_length(reply)
        assert n is None or 0 <= n <= MAX_BODY_BYTES


@given(line=st.binary(max_size=30))
def test_chunk_size_lines_never_crash(line: bytes) -> None:
    """A chunk size line is a size or a ProtocolError."""
    with contextlib.suppress(ProtocolError):
        assert 0 <= chunk_size(line) <= 0xFFFFFFFF


XMLISH = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda t: ONVIF_OK.replace(b"2026", t.encode("utf-8"))),
    st.text(max_size=100).map(lambda t: ONVIF_OK.replace(b"<tt:Hour>11", t.encode("utf-8"))),
    st.integers(0, 400).map(lambda n: ONVIF_OK[:n]),
)


@given(body=XMLISH)
def test_onvif_answers_never_crash(body: bytes) -> None:
    """Any body gives the device's time, None, or a ProtocolError."""
    with contextlib.suppress(ProtocolError):
        t = parse_onvif_time(body)
        assert t is None or t.tzinfo is UTC
