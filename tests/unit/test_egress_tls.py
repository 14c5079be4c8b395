"""The guard dials the address it checked, yet TLS verifies the certificate against the name."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flowdeck.engine.egress import UNREACHABLE, parse_allow_list, step_client
from flowdeck.engine.steps.http_request import HttpRequestHandler
from tests.unit.egress_helpers import resolver
from tests.unit.step_helpers import completed_output, step_failure

NAME = "tls.test"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for NAME only (no IP address in it) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsPeer:
    """An HTTPS server on 127.0.0.1 that records the server name each client asked for."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = self._sni
        self.server_names: list[str | None] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    def _sni(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self.server_names.append(name)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def tls_peer(tmp_path: Path) -> AsyncIterator[tuple[TlsPeer, Path]]:
    cert, key = self_signed(tmp_path)
    peer = TlsPeer(cert, key)
    await peer.start()
    yield peer, cert
    await peer.stop()


async def test_tls_verifies_the_name_while_the_guard_dials_the_address(
    tls_peer: tuple[TlsPeer, Path],
) -> None:
    peer, cert = tls_peer
    trust = ssl.create_default_context(cafile=str(cert))
    names = resolver({NAME: [["127.0.0.1"]]})
    handler = HttpRequestHandler()
    policy = parse_allow_list("127.0.0.1")
    async with step_client(policy, resolve=names, ssl_context=trust) as client:
        by_name = await completed_output(handler, client, {"url": f"https://{NAME}:{peer.port}/"})
        assert by_name["body"] == "ok"
        assert peer.server_names == [NAME]
        # The same server by its address: the certificate does not name 127.0.0.1.
        url = f"https://127.0.0.1:{peer.port}/"
        failure = await step_failure(handler, client, {"url": url})
    assert "CERTIFICATE_VERIFY_FAILED" in failure.message
    assert UNREACHABLE not in failure.message  # a TLS error keeps its words
