"""What the daemon's start-up imports: only what every venue needs (issue #20, item 3)."""

from __future__ import annotations

import subprocess
import sys

LEFT_OUT = (
    "rich",
    "cryptography",
    "sim",
    "ctypes",
    "drivers.gpio",
    "drivers.netprobe",
    "xml",
    "difflib",
    "drivers.serial",
    "edge.gate_readers",
    "edge.access.decision",
    "edge.access.service",
    "edge.access.store",
)
"""edgectl's renderer; signature checks (imported at the first one); the simulator; the
kernel clock query (the first clock check); the GPIO and network-probe drivers (a venue
with such buses imports them when it starts them); 'did you mean' hints (at the first
mistake); the credential readers, their line drivers and the access decision path (a
venue with gates)."""

PROBE = f"""
import sys
from edge.edged import load
load()
print(sorted(x for x in {LEFT_OUT!r} if any(m == x or m.startswith(x + ".") for m in sys.modules)))
"""


def test_starting_edged_imports_no_renderer_crypto_or_simulator() -> None:
    """A fresh interpreter that loads edged as its console script has none of them."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_a_signature_check_loads_cryptography_and_verifies() -> None:
    """The key loaded from config without `cryptography` still verifies (and refuses)."""
    probe = """
import base64, sys
from edge.access.keys import KeyRing, KeyVerdict
ring = KeyRing.from_mapping({"k1": base64.b64encode(bytes(range(32))).decode()})
assert "cryptography" not in sys.modules
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
pub = base64.b64encode(key.public_key().public_bytes_raw()).decode()
ring = KeyRing.from_mapping({"k1": pub})
now = __import__("datetime").datetime.now(__import__("datetime").UTC)
good = ring.verify("k1", b"msg", key.sign(b"msg"), now)
bad = ring.verify("k1", b"msg", key.sign(b"other"), now)
print(good.value, bad.value)
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["ok", "bad_signature"]
