"""TLS: CA-verified broker and a client certificate, against a real mosquitto TLS listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.clock import SystemClock
from edge.storage import Database
from edge.uplink import EventBody
from sim.broker import MosquittoBroker
from tests.uplink.conftest import GW, SITE, birth_provider, make_config
from tests.uplink.gateway import Gateway

NOW = dt.datetime.now(dt.UTC)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    ca: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key or key, hashes.SHA256())


def write_pki(d: Path) -> dict[str, str]:
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test-ca", ca_key, None, None, ca=True)
    for name, cert, key in [
        ("ca", ca, ca_key),
        (
            "server",
            *(lambda k: (_cert("127.0.0.1", k, ca, ca_key), k))(
                ec.generate_private_key(ec.SECP256R1())
            ),
        ),
        (
            "client",
            *(lambda k: (_cert("gw1", k, ca, ca_key), k))(ec.generate_private_key(ec.SECP256R1())),
        ),
    ]:
        (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (d / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        files[name] = str(d / f"{name}.pem")
        files[f"{name}_key"] = str(d / f"{name}.key")
    return files


async def test_tls_with_client_certificate(tmp_path: Path) -> None:
    """The uplink verifies the broker with the CA and presents its client certificate."""
    pki = write_pki(tmp_path / "pki")
    extra = [
        f"cafile {pki['ca']}",
        f"certfile {pki['server']}",
        f"keyfile {pki['server_key']}",
        "require_certificate true",
    ]
    with MosquittoBroker(workdir=tmp_path / "mq", extra_config=extra) as broker:
        db = Database.open(tmp_path / "gw.db")
        tls = {"ca_file": pki["ca"], "cert_file": pki["client"], "key_file": pki["client_key"]}
        async with Gateway(
            make_config(broker, **tls),
            site=SITE,
            gateway=GW,
            db=db,
            clock=SystemClock(),
            birth=birth_provider,
        ) as up:
            await asyncio.wait_for(up.connected_event.wait(), 5)
            await up.put(EventBody(kind="operation"))
            await asyncio.wait_for(up.outbox.wait_empty(), 5)
        # Without the client certificate the broker refuses the handshake: no connection.
        async with Gateway(
            make_config(broker, ca_file=pki["ca"], connect_timeout_s=0.5),
            site=SITE,
            gateway=GW,
            db=db,
            clock=SystemClock(),
            birth=birth_provider,
        ) as up2:
            await asyncio.sleep(1.5)
            status = await up2.status()
        db.close()
    assert status.connected is False and status.last_error
