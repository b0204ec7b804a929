"""``wss://`` with ``--tls-cert/--tls-key``: a real TLS handshake on loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import connect

from tests.support.clients import receive
from tests.support.servers import ServerProcess, token


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_wss_handshake_and_echo(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    process = ServerProcess(WSH_TLS_CERT=str(cert), WSH_TLS_KEY=str(key))
    process.ready_url = f"https://127.0.0.1:{process.port}/readyz"
    process.ssl_context = ssl.create_default_context(cafile=str(cert))
    process.start()
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        url = f"wss://127.0.0.1:{process.port}/ws"
        headers = {"Authorization": f"Bearer {token()}"}
        async with connect(url, ssl=client_tls, additional_headers=headers) as ws:
            assert (await receive(ws))["type"] == "welcome"
            await ws.send('{"type": "echo", "id": 9}')
            assert (await receive(ws))["id"] == 9
    finally:
        process.stop()
