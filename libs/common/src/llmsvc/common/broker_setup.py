"""Credentials and server configuration for a NATS with per-service identities.

`python -m llmsvc.common.broker_setup DIR` makes (or reuses) one NKey seed per service
in `DIR/<service>/seed` (mode 0600) and writes `DIR/nats-server.conf` (listen address,
JetStream store, and the `authorization` block of `broker_permissions`) and
`DIR/nats-helm-values.json`, the same block as values of the official NATS Helm chart.
`make dev` runs it on first start; the tests and benchmarks call `write_broker_files`
themselves.
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
    """`<directory>/<name>/seed`: one folder per identity, so each service can be given
    its own (a volume subpath, a Secret) and nobody else's."""
    path = directory / name / "seed"
    path.parent.mkdir(mode=0o700, exist_ok=True)
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
    owner: int | None = None,
) -> BrokerFiles:
    """Seeds (kept if present) and the server configuration, in `directory`.
    `harness` adds an all-powerful identity for test and benchmark drivers; `owner`
    (a uid) is given the seeds, for containers that run as that user."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = [*IDENTITIES.values(), *identities, *([HARNESS] if harness else [])]
    seeds = {i.name: _seed(directory, i.name) for i in wanted}
    if owner is not None:
        for path in seeds.values():
            os.chown(path.parent, owner, -1)
            os.chown(path, owner, -1)
    authorization = server_authorization(
        (i, public_key(seeds[i.name].read_text().strip())) for i in wanted
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
    # JSON is YAML: `helm install nats nats/nats -f nats-helm-values.json`.
    helm = {"config": {"jetstream": {"enabled": True}, "merge": {"authorization": authorization}}}
    (directory / "nats-helm-values.json").write_text(json.dumps(helm, indent=2) + "\n")
    return BrokerFiles(config=config, seeds=seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4222)
    parser.add_argument("--store-dir", type=Path)
    parser.add_argument("--owner", type=int, help="uid to own the seeds (containers)")
    args = parser.parse_args()
    files = write_broker_files(
        args.directory,
        host=args.host,
        port=args.port,
        store_dir=args.store_dir,
        owner=args.owner,
    )
    sys.stdout.write(f"{files.config}\n")


if __name__ == "__main__":
    main()
