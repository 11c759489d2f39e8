"""Pure request builders and reply parsers of the probes (no I/O: tested with bytes).

RTSP (RFC 2326) and HTTP/1.1 replies share a shape: a status line, header lines, an
empty line, maybe a body. Everything from the network is bounded (header block
`MAX_HEAD_BYTES`, body `MAX_BODY_BYTES`) and decoded as Latin-1, so no byte sequence
can crash a parser: a reply is either understood or a `ProtocolError` that says why.

ONVIF replies are SOAP 1.2 XML. SOAP forbids a DTD in a message, so a reply carrying
`<!DOCTYPE` is refused before parsing: no entity expansion or external entity can
reach the XML parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_HEAD_BYTES = 8192
MAX_BODY_BYTES = 65536

_STATUS = re.compile(r"^(RTSP|HTTP)/(\d)\.(\d) (\d{3})(?: (.*))?$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
ONVIF_DEVICE = "http://www.onvif.org/ver10/device/wsdl"


class ProtocolError(Exception):
    """A reply that is malformed or not the expected answer; `detail` says which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed RTSP/HTTP reply head (header names lower-cased) and its body."""

    protocol: str
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes = b""

    @property
    def summary(self) -> str:
        return f"{self.protocol} {self.status} {self.reason}".rstrip()


def parse_head(head: bytes, protocol: str) -> Reply:
    """Parse a reply head (status line and headers, without the blank line) of
    `protocol` ("RTSP" or "HTTP"). Raises ProtocolError."""
    if len(head) > MAX_HEAD_BYTES:
        raise ProtocolError(f"reply header longer than {MAX_HEAD_BYTES} bytes")
    lines = head.decode("latin-1").split("\r\n")
    m = _STATUS.match(lines[0])
    if m is None:
        shown = lines[0][:60]
        raise ProtocolError(f"not a {protocol} status line: {shown!r}")
    if m.group(1) != protocol:
        raise ProtocolError(f"expected a {protocol} reply, got {m.group(1)}")
    version = f"{m.group(1)}/{m.group(2)}.{m.group(3)}"
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.match(name):
            raise ProtocolError(f"malformed header line {line[:60]!r}")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers and key == "content-length" and headers[key] != value:
            raise ProtocolError("conflicting Content-Length headers")
        headers[key] = value
    return Reply(version, int(m.group(4)), (m.group(5) or "").strip(), headers)


def body_length(reply: Reply) -> int | None:
    """The declared body length, None when there is none (read to EOF or chunked)."""
    raw = reply.headers.get("content-length")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ProtocolError(f"bad Content-Length {raw[:20]!r}")
    n = int(raw)
    if n > MAX_BODY_BYTES:
        raise ProtocolError(f"body of {n} bytes is over the {MAX_BODY_BYTES} byte limit")
    return n


def is_chunked(reply: Reply) -> bool:
    return "chunked" in reply.headers.get("transfer-encoding", "").lower()


def chunk_size(line: bytes) -> int:
    """The size of a chunk from its size line (hex, maybe `;extensions`)."""
    text = line.decode("latin-1").strip().split(";", 1)[0].strip()
    if not text or len(text) > 8 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ProtocolError(f"bad chunk size line {line[:20]!r}")
    return int(text, 16)


# ---- requests ------------------------------------------------------------------------
def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def rtsp_options(host: str, port: int, path: str, cseq: int) -> bytes:
    url = f"rtsp://{_authority(host, port)}{path}"
    return (f"OPTIONS {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: edged-netprobe\r\n\r\n").encode(
        "ascii"
    )


def http_head(host: str, port: int, path: str) -> bytes:
    return (
        f"HEAD {path} HTTP/1.1\r\nHost: {_authority(host, port)}\r\n"
        "User-Agent: edged-netprobe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


ONVIF_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body>'
    f'<GetSystemDateAndTime xmlns="{ONVIF_DEVICE}"/>'
    "</s:Body></s:Envelope>"
).encode("ascii")


def onvif_request(host: str, port: int, path: str) -> bytes:
    """POST of GetSystemDateAndTime, which ONVIF devices answer without credentials."""
    action = f"{ONVIF_DEVICE}/GetSystemDateAndTime"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {_authority(host, port)}\r\n"
        f'Content-Type: application/soap+xml; charset=utf-8; action="{action}"\r\n'
        f"Content-Length: {len(ONVIF_BODY)}\r\nUser-Agent: edged-netprobe\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + ONVIF_BODY


# ---- answers ---------------------------------------------------------------------------
def check_rtsp(reply: Reply, cseq: int) -> None:
    """An RTSP OPTIONS answer must be `RTSP/1.0 200` and echo our CSeq (when it has one)."""
    if reply.protocol != "RTSP/1.0" or reply.status != 200:
        raise ProtocolError(reply.summary)
    echoed = reply.headers.get("cseq")
    if echoed is not None and echoed.strip() != str(cseq):
        raise ProtocolError(f"CSeq {echoed[:12]!r} does not answer request {cseq}")


def check_http(reply: Reply) -> None:
    """A web server is alive when it answers below 500 (401/403: it wants credentials)."""
    if not 100 <= reply.status < 500:
        raise ProtocolError(reply.summary)


def parse_onvif_time(body: bytes) -> datetime | None:
    """The device's UTC clock from a GetSystemDateAndTime answer (None when it only gives
    local time). A SOAP fault or any other document raises ProtocolError."""
    if len(body) > MAX_BODY_BYTES:
        raise ProtocolError("ONVIF answer too long")
    if b"<!doctype" in body.lower() or b"<!entity" in body.lower():
        raise ProtocolError("ONVIF answer carries a DTD (not allowed in SOAP)")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ProtocolError(f"ONVIF answer is not XML: {exc}") from None
    try:
        return _onvif_time(root)
    except RecursionError:
        raise ProtocolError("ONVIF answer nests too deeply") from None


def _onvif_time(root: ET.Element) -> datetime | None:
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise ProtocolError(f"not a SOAP 1.2 envelope: {root.tag[:80]!r}")
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is not None:
        reason = " ".join(t.strip() for t in fault.itertext() if t.strip())
        raise ProtocolError(f"SOAP fault: {reason[:120]}")
    answer = root.find(f".//{{{ONVIF_DEVICE}}}GetSystemDateAndTimeResponse")
    if answer is None:
        raise ProtocolError("no GetSystemDateAndTimeResponse in the answer")
    utc = answer.find(".//{*}UTCDateTime")
    if utc is None:
        return None
    fields = {}
    for name in ("Year", "Month", "Day", "Hour", "Minute", "Second"):
        node = utc.find(f".//{{*}}{name}")
        text = (node.text or "").strip() if node is not None else ""
        if not (text.isascii() and text.isdigit()) or len(text) > 4:
            raise ProtocolError(f"UTCDateTime has no valid {name}")
        fields[name] = int(text)
    try:
        return datetime(
            fields["Year"],
            fields["Month"],
            fields["Day"],
            fields["Hour"],
            fields["Minute"],
            fields["Second"],
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise ProtocolError(f"UTCDateTime is not a date: {exc}") from None
