"""Credentials and server configuration for a NATS with per-service identities.

`python -m llmsvc.common.broker_setup DIR` makes (or reuses) one NKey seed per service
in `DIR/<service>.nk` (mode 0600) and writes `DIR/nats-server.conf`: listen address,
JetStream store, and the `authorization` block of `broker_permissions`. `make dev` runs
it on first start; the tests and benchmarks call `write_broker_files` themselves.
A service reads its seed from `NATS_NKEY_SEED_FILE` (or `NATS_NKEY_SEED`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nkeys  # type: ignore[import-untyped]

from llmsvc.common.broker_permissions import HARNESS, IDENTITIES, Identity, server_authorization

__all__ = ["BrokerFiles", "new_user_seed", "public_key", "write_broker_files"]


def new_user_seed() -> str:
    """A new NKey user seed (`SU...`)."""
    raw = secrets.token_bytes(32)
    return str(nkeys.encode_seed(raw, nkeys.PREFIX_BYTE_USER).decode())


def public_key(seed: str) -> str:
    """The user's public key (`U...`), what the server configuration names."""
    pair = nkeys.from_seed(seed.encode())
    try:
        return str(pair.public_key.decode())
    finally:
        pair.wipe()


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path
    #: Clients must present a certificate signed by this CA (optional).
    client_ca: Path | None = None


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    seeds: dict[str, Path]

    def seed_file(self, identity: str) -> Path:
        return self.seeds[identity]


def _seed(directory: Path, name: str) -> Path:
    path = directory / f"{name}.nk"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(new_user_seed() + "\n")
    return path


def write_broker_files(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 4222,
    store_dir: Path | None = None,
    harness: bool = False,
    tls: Tls | None = None,
    identities: Iterable[Identity] = (),
) -> BrokerFiles:
    """Seeds (kept if present) and the server configuration, in `directory`.
    `harness` adds an all-powerful identity for test and benchmark drivers."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [*IDENTITIES.values(), *identities, *([HARNESS] if harness else [])]
    seeds = {i.name: _seed(directory, i.name) for i in wanted}
    keys = {n: public_key(p.read_text().strip()) for n, p in seeds.items()}
    authorization = server_authorization(
        {n: k for n, k in keys.items() if n in IDENTITIES},
        extra=[(i, keys[i.name]) for i in wanted if i.name not in IDENTITIES],
    )
    lines = [
        "# Written by llmsvc.common.broker_setup from llmsvc.common.broker_permissions;",
        "# edit the table there, not this file.",
        f"listen: {json.dumps(f'{host}:{port}')}",
    ]
    if store_dir is not None:
        lines.append(f"jetstream: {{store_dir: {json.dumps(str(store_dir))}}}")
    else:
        lines.append("jetstream: enabled")
    if tls is not None:
        block: dict[str, object] = {"cert_file": str(tls.cert), "key_file": str(tls.key)}
        if tls.client_ca is not None:
            block |= {"ca_file": str(tls.client_ca), "verify": True}
        lines.append(f"tls: {json.dumps(block)}")
    lines.append(f"authorization: {json.dumps(authorization, indent=2)}")
    config = directory / "nats-server.conf"
    config.write_text("\n".join(lines) + "\n")
    return BrokerFiles(config=config, seeds=seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--store-dir", type=Path)
    args = parser.parse_args()
    files = write_broker_files(
        args.directory, host=args.host, port=args.port, store_dir=args.store_dir
    )
    sys.stdout.write(f"{files.config}\n")


if __name__ == "__main__":
    main()
