"""Signatures over RFC 8785 (JCS) canonical JSON: the RFC's own vectors, the reference
implementation's test data, agreement with two independent JCS implementations (one in this
file, written from the RFC and ECMA-262; one in JavaScript, run by node), and sign/verify
properties, including commands signed by node's own Ed25519 and accepted by the gateway."""

from __future__ import annotations

import base64
import copy
import json
import math
import shutil
import struct
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from edge.clock import SimClock
from edge.storage import Database
from edge.uplink import CmdResBody, Command, CommandProcessor
from edge.uplink.contract import COMMANDS, Topics
from edge.uplink.errors import CommandRefused
from edge.uplink.signing import (
    BOOKINGS_DOMAIN,
    COMMAND_DOMAIN,
    NotCanonical,
    Verifier,
    canonical_json,
    public_key_b64,
    sign,
    signed_bytes,
)

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
SEED = bytes(range(32))  # the documented example key (docs/mqtt.md)
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
TOPIC = Topics("site1", "gw1").cmd("open_gate")
VERIFIER = Verifier({"k1": public_key_b64(KEY)}, required=True)
MAX_SAFE = 2**53 - 1


def wire(text: str | bytes) -> dict[str, Any]:
    """Decode as the gateway does (edge/uplink/commands.py): msgspec, untyped."""
    obj = msgspec.json.decode(text)
    assert isinstance(obj, dict)
    return obj


def double(bits: int) -> float:
    """The IEEE 754 double with these 64 bits."""
    value: float = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    return value


# --- an independent reference, written from RFC 8785 section 3.2 and ECMA-262 7.1.12.1 -------


def ref_number(x: float) -> str:
    """ECMA-262 Number::toString: find n, k, s with s * 10**(n - k) == x and k minimal, then
    choose the notation from n and k. Python's repr gives the shortest round-trip digits."""
    if math.isnan(x) or math.isinf(x):
        raise ValueError("NaN and infinities are not JSON")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + ref_number(-x)
    _, digit_tuple, exponent = Decimal(repr(x)).normalize().as_tuple()
    assert isinstance(exponent, int)
    s = "".join(map(str, digit_tuple))
    k = len(s)
    n = exponent + k
    if k <= n <= 21:
        return s + "0" * (n - k)
    if 0 < n <= 21:
        return s[:n] + "." + s[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + s
    e = n - 1
    mantissa = s if k == 1 else s[0] + "." + s[1:]
    return f"{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def ref_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError("lone surrogate")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_units(text: str) -> list[int]:
    units: list[int] = []
    for ch in text:
        code = ord(ch)
        if code >= 0x10000:
            code -= 0x10000
            units += [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]
        else:
            units.append(code)
    return units


def ref_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE:
            raise ValueError("integer outside the I-JSON range")
        return ref_number(float(value))
    if isinstance(value, float):
        return ref_number(value)
    if isinstance(value, str):
        return ref_string(value)
    if isinstance(value, list):
        return "[" + ",".join(ref_text(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=utf16_units)
        return "{" + ",".join(ref_string(k) + ":" + ref_text(value[k]) for k in keys) + "}"
    raise TypeError(type(value))


def ref_jcs(value: Any) -> bytes:
    return ref_text(value).encode("utf-8")


# --- a JavaScript implementation: JSON.stringify is the definition JCS builds on -------------

NODE_PROGRAM = r"""
const crypto = require('crypto');
const canon = (v) => {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(canon).join(',') + ']';
  return '{' + Object.keys(v).sort()
    .map((k) => JSON.stringify(k) + ':' + canon(v[k])).join(',') + '}';
};
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const req = JSON.parse(line);
  const text = canon(JSON.parse(req.json));
  let out = text;
  if (req.op === 'sign') {
    const key = crypto.createPrivateKey({
      key: Buffer.concat([PKCS8_ED25519, Buffer.from(req.seed, 'hex')]),
      format: 'der', type: 'pkcs8',
    });
    const message = Buffer.concat([Buffer.from(req.prefix, 'utf8'), Buffer.from(text, 'utf8')]);
    out = crypto.sign(null, message, key).toString('base64');
  }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""


class Node:
    """One node process answering line by line: canonical JSON, or an Ed25519 signature."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", "-e", NODE_PROGRAM], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def _ask(self, request: dict[str, str]) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        assert isinstance(answer, str)
        return answer

    def jcs(self, json_text: bytes) -> bytes:
        return self._ask({"op": "canon", "json": json_text.decode()}).encode("utf-8")

    def sign(self, seed: bytes, prefix: bytes, json_text: bytes) -> str:
        request = {"op": "sign", "seed": seed.hex(), "prefix": prefix.decode()}
        return self._ask({**request, "json": json_text.decode()})

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (apt-get install nodejs): no JavaScript JCS to compare")
    n = Node()
    yield n
    n.close()


# --- RFC 8785's own examples ------------------------------------------------------------------

RFC_3_2_2_INPUT = r"""{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"""
RFC_3_2_2_OUTPUT = (
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
    '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
)
# RFC 8785 section 3.2.4: the same output as UTF-8 bytes.
RFC_3_2_4_HEX = """
7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d
"""
RFC_3_2_3_INPUT = r"""{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"""
RFC_3_2_3_OUTPUT = (
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
    '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
    '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
)

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),  # zero
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),  # min pos number
    ("8000000000000001", "-5e-324"),  # min neg number
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # max pos number
    ("ffefffffffffffff", "-1.7976931348623157e+308"),  # max neg number
    ("4340000000000000", "9007199254740992"),  # max pos int
    ("c340000000000000", "-9007199254740992"),  # max neg int
    ("4430000000000000", "295147905179352830000"),  # ~2**68
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),  # round to even
]
APPENDIX_B_NOT_JSON = ["7fffffffffffffff", "7ff0000000000000"]  # NaN, Infinity

# The reference implementation's test data (cyberphone/json-canonicalization, testdata/,
# Apache-2.0): input text -> canonical output. `arrays` has no output file there; its
# expected value follows from section 3.2.3.
CYBERPHONE = {
    "arrays": ('[\n  56,\n  {\n    "d": true,\n    "10": null,\n    "1": [ ]\n  }\n]', None),
    "french": (
        '{\n  "peach": "This sorting order",\n  "p\u00e9ch\u00e9": "is wrong according to'
        ' French",\n  "p\u00eache": "but canonicalization MUST",\n  "sin":   "ingnore locale"\n}\n',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ingnore locale"}',
    ),
    "structures": (
        '{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n'
        '  "a": { },\n  "111": [ { } ],\n  "A": { }\n}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ),
    "unicode": (
        '{\n  "Unnormalized Unicode":"\\u1e0d\\u0307"\n}\n',
        '{"Unnormalized Unicode":"\u1e0d\u0307"}',
    ),
    "values": (
        '{\n  "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],\n'
        '  "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n'
        '  "literals": [null, true, false]\n}',
        '{"escaping":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
        '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}',
    ),
    "weird": (
        '{\n  "\\u20ac": "Euro Sign",\n  "1": "One",\n  "\\u0080": "Control\\u007f",\n'
        '  "\\ud83d\\ude02": "Smiley",\n  "\\u00f6": "Latin Small Letter O With Diaeresis",\n'
        '  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}\n',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f602":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
}
# testdata/outhex/simpleString.txt: the canonical bytes of `    "this is a test string 1235"`.
SIMPLE_STRING_HEX = (
    "22 74 68 69 73 20 69 73 20 61 20 74 65 73 74 20 73 74 72 69 6E 67 20 31 32 33 35 22"
)


def test_rfc8785_section_3_2_2_example_and_its_utf8_bytes() -> None:
    """Primitive serialisation (numbers, escapes, literals), and the same bytes as 3.2.4."""
    ours = canonical_json(wire(RFC_3_2_2_INPUT))
    assert ours == RFC_3_2_2_OUTPUT.encode("utf-8") == bytes.fromhex(RFC_3_2_4_HEX)
    assert ref_jcs(wire(RFC_3_2_2_INPUT)) == ours


def test_rfc8785_section_3_2_3_sorts_members_by_utf16_code_units() -> None:
    """U+1F600 (surrogates D83D DE00) sorts before U+FB33: UTF-16 order, not code point."""
    ours = canonical_json(wire(RFC_3_2_3_INPUT))
    assert ours == RFC_3_2_3_OUTPUT.encode("utf-8")
    assert ref_jcs(wire(RFC_3_2_3_INPUT)) == ours


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    """Every finite sample of Appendix B, through the code and through the reference."""
    x = double(int(bits, 16))
    assert canonical_json({"n": x}) == b'{"n":' + expected.encode() + b"}"
    assert ref_number(x) == expected


@pytest.mark.parametrize("bits", APPENDIX_B_NOT_JSON)
def test_rfc8785_appendix_b_nan_and_infinity_cannot_be_signed(bits: str) -> None:
    x = double(int(bits, 16))
    with pytest.raises(NotCanonical, match="not representable"):
        canonical_json({"n": x})


@pytest.mark.parametrize("name", sorted(CYBERPHONE))
def test_reference_implementation_testdata(name: str) -> None:
    """cyberphone/json-canonicalization testdata: input -> output, byte for byte."""
    text, expected = CYBERPHONE[name]
    value = msgspec.json.decode(text)
    if expected is None:
        expected = '[56,{"1":[],"10":null,"d":true}]'
    wrapped = canonical_json({"v": value})  # the production entry point takes an object
    assert wrapped == b'{"v":' + expected.encode("utf-8") + b"}"
    assert ref_jcs(value) == expected.encode("utf-8")


def test_reference_testdata_simple_string_bytes() -> None:
    value = msgspec.json.decode(b'    "this is a test string 1235"')
    assert canonical_json({"v": value})[5:-1] == bytes.fromhex(SIMPLE_STRING_HEX)


def test_the_vectors_through_node(node: Node) -> None:
    """The JavaScript implementation agrees on every vector (so it is fit to compare with)."""
    assert node.jcs(RFC_3_2_2_INPUT.encode()) == RFC_3_2_2_OUTPUT.encode()
    assert node.jcs(RFC_3_2_3_INPUT.encode()) == RFC_3_2_3_OUTPUT.encode()
    for text, expected in CYBERPHONE.values():
        if expected is not None:
            assert node.jcs(text.encode()) == expected.encode()
    for bits, number in APPENDIX_B:
        assert node.jcs(msgspec.json.encode(double(int(bits, 16)))) == number.encode()


# --- what the gateway refuses to canonicalise ---------------------------------------------------


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"n": 2**53}, r"2\*\*53 - 1"),
        ({"n": -(2**53)}, r"2\*\*53 - 1"),
        ({"n": [1, {"deep": 10**30}]}, "send the value as a string"),
        ({"\ud800": 1}, "not representable"),
        ({"s": "a\udfffb"}, "not representable"),
        ({"n": math.inf}, "not representable"),
        ({"n": nested(5000)}, "nested too deeply"),
    ],
)
def test_values_outside_i_json_are_refused_with_the_reason(obj: dict[str, Any], match: str) -> None:
    with pytest.raises(NotCanonical, match=match):
        canonical_json(obj)
    signed = {**obj, "sig": {"kid": "k1", "alg": "ed25519", "value": "AA=="}}
    refused = VERIFIER.refusal(TOPIC, signed, T0)
    assert refused is not None and refused.code == "bad_signature"
    assert "cannot check the signature" in refused.message


def test_integers_at_the_i_json_limit_are_exact() -> None:
    assert canonical_json({"a": MAX_SAFE, "b": -MAX_SAFE}) == (
        b'{"a":9007199254740991,"b":-9007199254740991}'
    )


# --- the documented example (docs/mqtt.md, "Signatures") ----------------------------------------

DOC_TOPIC = "edge/v1/wcp/gw-1/cmd/set_point"
DOC_PAYLOAD = (
    b'{"value": 22.50, "cmd_id": "c1", "point": "hvac-1.setpoint",'
    b' "expires_at": "2026-05-01T18:01:00Z"}'
)
DOC_PUBLIC_KEY = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
DOC_SIGNATURE = (
    "l0QOEdm2j+IqJOzFMrXDahSMamey9U0FjLe9vks42TIAipHey31pOKXhjCTwwNLBsXA4vdgn+NKGyeMUkPh0Ag=="
)


def test_the_documented_example_signature() -> None:
    """docs/mqtt.md's key, bytes and signature are what the code produces."""
    obj = wire(DOC_PAYLOAD)
    assert public_key_b64(KEY) == DOC_PUBLIC_KEY
    assert signed_bytes(DOC_TOPIC, obj) == (
        b"edge-cmd-v1\nedge/v1/wcp/gw-1/cmd/set_point\n"
        b'{"cmd_id":"c1","expires_at":"2026-05-01T18:01:00Z","point":"hvac-1.setpoint","value":22.5}'
    )
    assert sign(DOC_TOPIC, obj, KEY, "cloud-2026")["sig"]["value"] == DOC_SIGNATURE


def test_node_signs_the_documented_example_identically(node: Node) -> None:
    """A stock JavaScript signer (JSON.stringify + crypto.sign) gets the documented value."""
    prefix = COMMAND_DOMAIN + DOC_TOPIC.encode() + b"\n"
    assert node.sign(SEED, prefix, DOC_PAYLOAD) == DOC_SIGNATURE


# --- properties -------------------------------------------------------------------------------

# Keys and strings lean on what canonicalisers get wrong: escapes, C1 controls, U+2028,
# characters above and below the surrogate range, astral characters, combining marks.
TRICKY = '\x00\x1f\x7f\x80"\\/\b\f\n\r\t\u2028\u2029\ud7ff\ue000\ufb33\uffff\U0001f600\u0301aA1'
texts = st.text(max_size=8) | st.text(st.sampled_from(TRICKY), max_size=6)
numbers = (
    st.integers(-MAX_SAFE, MAX_SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(0, 2**64 - 1).map(double).filter(math.isfinite)
    | st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-99999, 99999), st.integers(-30, 30))
)
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=16,
)
command_objects = st.builds(
    lambda extra, cmd_id, gate: {**extra, "cmd_id": cmd_id, "gate": gate},
    st.dictionaries(texts.filter(lambda k: k != "sig"), json_values, max_size=5),
    texts,
    texts,
)


def sender_forms(obj: dict[str, Any], data: st.DataObject) -> bytes:
    """One of the many texts a sender may put on the wire for `obj` (key order, spacing,
    ASCII escapes): the signature must not depend on which."""
    keys = data.draw(st.permutations(list(obj)))
    reordered = {k: obj[k] for k in keys}
    indent = data.draw(st.sampled_from([None, 0, 2]))
    ascii_only = data.draw(st.booleans())
    return json.dumps(reordered, indent=indent, ensure_ascii=ascii_only).encode("utf-8")


@given(value=json_values, data=st.data())
def test_canonical_bytes_equal_the_python_reference(value: Any, data: st.DataObject) -> None:
    """For any JSON value: the code's bytes == the reference's, and the sender's formatting
    (key order, spacing, ASCII escapes) does not change them."""
    obj = {"v": value}
    ours = canonical_json(obj)
    assert ours == ref_jcs(obj)
    assert canonical_json(wire(sender_forms(obj, data))) == ours


@given(value=json_values)
def test_canonical_bytes_equal_node(node: Node, value: Any) -> None:
    """For any JSON value: the code's bytes == JavaScript's (JSON.stringify, sorted keys)."""
    obj = {"v": value}
    assert canonical_json(obj) == node.jcs(msgspec.json.encode(obj))


@given(bits=st.integers(0, 2**64 - 1))
def test_every_double_serialises_as_the_reference_says(bits: int) -> None:
    """Numbers by bit pattern (the reference implementation's es6testfile approach)."""
    x = double(bits)
    if not math.isfinite(x):
        with pytest.raises(NotCanonical):
            canonical_json({"n": x})
        return
    assert canonical_json({"n": x}) == b'{"n":' + ref_number(x).encode() + b"}"


@given(bits=st.integers(0, 2**64 - 1).filter(lambda b: math.isfinite(double(b))))
def test_every_double_serialises_as_ecmascript_does(node: Node, bits: int) -> None:
    x = double(bits)
    assert canonical_json({"n": x}) == node.jcs(msgspec.json.encode({"n": x}))


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            if prefix or k != "sig":
                yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def tampered(obj: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """A copy of the signed `obj` with one semantic change: a value replaced (anywhere), a
    member added, or a member removed."""
    out = copy.deepcopy(obj)
    how = data.draw(st.sampled_from(["replace", "add", "remove"]))
    if how == "remove":
        key = data.draw(st.sampled_from(sorted(k for k in out if k != "sig")))
        del out[key]
        return out
    if how == "add":
        key = data.draw(texts.filter(lambda k: k not in out))
        out[key] = data.draw(json_values)
        return out
    path = data.draw(st.sampled_from(list(paths(out))))
    *parents, last = path
    holder: Any = out
    for step in parents:
        holder = holder[step]
    old = holder[last]
    holder[last] = data.draw(json_values.filter(lambda v: ref_jcs(v) != ref_jcs(old)))
    return out


@given(obj=command_objects, data=st.data())
def test_sign_then_verify_and_any_change_fails(obj: dict[str, Any], data: st.DataObject) -> None:
    """For any JSON-compatible command: signed, sent in any formatting, it verifies; after
    any change of a value, an added or a removed member it is refused as bad_signature."""
    signed = sign(TOPIC, obj, KEY, "k1")
    VERIFIER.check(TOPIC, wire(sender_forms(signed, data)), T0)
    changed = wire(msgspec.json.encode(tampered(signed, data)))
    with pytest.raises(CommandRefused) as refused:
        VERIFIER.check(TOPIC, changed, T0)
    assert refused.value.code == "bad_signature"


@given(obj=command_objects)
def test_a_signature_from_an_independent_jcs_verifies(obj: dict[str, Any]) -> None:
    """A sender using any correct JCS (here the reference above) and plain Ed25519."""
    message = COMMAND_DOMAIN + TOPIC.encode() + b"\n" + ref_jcs(obj)
    value = base64.b64encode(KEY.sign(message)).decode()
    signed = {**obj, "sig": {"kid": "k1", "alg": "ed25519", "value": value}}
    assert VERIFIER.refusal(TOPIC, wire(msgspec.json.encode(signed)), T0) is None


def test_domains_keep_commands_and_booking_feeds_apart() -> None:
    """A booking-feed signature is never a command signature, and the reverse."""
    topic = Topics("site1", "gw1").bookings
    snapshot = {"version": 42, "generated_at": "2026-05-01T17:59:58Z", "bookings": []}
    as_bookings = sign(topic, snapshot, KEY, "k1", BOOKINGS_DOMAIN)
    as_command = sign(topic, snapshot, KEY, "k1")
    assert VERIFIER.refusal(topic, as_bookings, T0, BOOKINGS_DOMAIN) is None
    wrong = VERIFIER.refusal(topic, as_command, T0, BOOKINGS_DOMAIN)
    assert wrong is not None and wrong.code == "bad_signature"
    cmd = sign(TOPIC, {"cmd_id": "c", "gate": "g"}, KEY, "k1", BOOKINGS_DOMAIN)
    with pytest.raises(CommandRefused, match="bad_signature"):
        VERIFIER.check(TOPIC, cmd, T0)


async def test_commands_signed_by_node_run_on_the_gateway(node: Node, tmp_path: Path) -> None:
    """End to end through the command processor: node canonicalises and signs (its own
    Ed25519) the sender's text, which reaches the gateway verbatim with the `sig` appended:
    spacing, key order, `2.5e1`, `\\u2028` and non-ASCII do not matter."""
    db = Database.open(tmp_path / "c.db")
    answers: list[CmdResBody] = []
    ran: list[Command] = []

    async def respond(res: CmdResBody) -> None:
        answers.append(res)

    async def handler(cmd: Command) -> None:
        ran.append(cmd)

    clock = SimClock(T0)
    proc = CommandProcessor(db, clock, respond, dict.fromkeys(COMMANDS, handler), verifier=VERIFIER)
    await proc.start()
    topics = Topics("site1", "gw1")
    expires = (T0 + timedelta(seconds=60)).isoformat()
    bodies = {
        "open_gate": '{"gate": "north", "hold_s": 5, "cmd_id": "n1",'
        f' "reason": "caf\u00e9 \U0001f600", "expires_at": "{expires}"}}',
        "set_point": '{ "value" : 2.5e1, "point": "hvac1.setpoint", "cmd_id": "n2",'
        f' "expires_at": "{expires}"}}',
        "ack_alarm": f'{{"cmd_id":"n3","expires_at":"{expires}",'
        '"alarm_id":"a\\u2028b","by":"ops"}',
    }
    try:
        for name, text in bodies.items():
            topic = topics.cmd(name)
            value = node.sign(SEED, COMMAND_DOMAIN + topic.encode() + b"\n", text.encode())
            sig = json.dumps({"kid": "k1", "alg": "ed25519", "value": value})
            payload = text.rstrip()[:-1] + f', "sig": {sig}}}'
            res = await proc.handle(topic, name, payload.encode())
            assert res.code == "ok", res
    finally:
        db.close()
    assert [c.cmd_id for c in ran] == ["n1", "n2", "n3"]
