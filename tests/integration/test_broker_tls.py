"""TLS to NATS by configuration: a service that trusts the CA (`NATS_TLS_CA`) connects
over TLS with its own identity, optionally presenting a client certificate
(`NATS_TLS_CERT`/`NATS_TLS_KEY`) when the server verifies clients; without the CA, or
without a certificate the server asks for, it does not connect."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
import trustme

from llmsvc.common.broker_setup import Tls, write_broker_files
from llmsvc.common.nats_client import connect_nats
from llmsvc.gateway.settings import GatewaySettings
from tests.support.procs import Proc, binary, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def start_tls_nats(workdir: Path, ca: trustme.CA, *, verify_clients: bool) -> tuple[Proc, Path]:
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = workdir / "server.pem", workdir / "server.key", workdir / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    files = write_broker_files(
        workdir / "broker",
        port=port,
        store_dir=workdir / "js",
        tls=Tls(cert=cert, key=key, client_ca=ca_file if verify_clients else None),
    )
    proc = Proc(
        "nats-tls",
        [binary("nats-server"), "-c", str(files.config)],
        env={},
        log_path=workdir / "nats.log",
        port=port,
    ).start()
    return proc, files.seed_file("gateway")


@pytest.fixture
def tls_nats(tmp_path: Path, ca: trustme.CA) -> Iterator[tuple[str, Path, Path]]:
    proc, seed = start_tls_nats(tmp_path, ca, verify_clients=False)
    yield f"tls://127.0.0.1:{proc.port}", seed, tmp_path / "ca.pem"
    proc.stop()


async def test_a_service_connects_over_tls_with_its_identity(
    tls_nats: tuple[str, Path, Path],
) -> None:
    url, seed, ca_file = tls_nats
    settings = GatewaySettings(
        nats_url=url, nats_nkey_seed_file=seed, nats_tls_ca=ca_file, _env_file=None
    )
    nc = await connect_nats(url, name="gateway", identity=settings.nats_identity("gateway"))
    try:
        info = await nc.jetstream().account_info()
        assert info is not None
        assert nc.connected_url is not None and nc.connected_url.scheme == "tls"
    finally:
        await nc.close()
    # Without trusting the CA, the handshake fails.
    with pytest.raises((ssl.SSLError, OSError, nats.errors.NoServersError)):
        await nats.connect(
            url,
            nkeys_seed_str=seed.read_text().strip(),
            max_reconnect_attempts=0,
            allow_reconnect=False,
            connect_timeout=2,
        )


async def test_a_server_that_verifies_clients_wants_their_certificate(
    tmp_path: Path, ca: trustme.CA
) -> None:
    proc, seed = start_tls_nats(tmp_path, ca, verify_clients=True)
    try:
        url = f"tls://127.0.0.1:{proc.port}"
        client = ca.issue_cert("gateway.llmsvc")
        cert, key = tmp_path / "client.pem", tmp_path / "client.key"
        client.cert_chain_pems[0].write_to_path(str(cert))
        client.private_key_pem.write_to_path(str(key))
        with_cert = GatewaySettings(
            nats_nkey_seed_file=seed,
            nats_tls_ca=tmp_path / "ca.pem",
            nats_tls_cert=cert,
            nats_tls_key=key,
            _env_file=None,
        )
        nc = await connect_nats(url, name="gateway", identity=with_cert.nats_identity("gateway"))
        await nc.close()
        without = GatewaySettings(
            nats_nkey_seed_file=seed, nats_tls_ca=tmp_path / "ca.pem", _env_file=None
        )
        with pytest.raises(Exception):  # noqa: B017 - the handshake or the server refuses
            await nats.connect(
                url,
                max_reconnect_attempts=0,
                allow_reconnect=False,
                connect_timeout=2,
                **without.nats_identity("gateway").connect_options(),
            )
    finally:
        proc.stop()
