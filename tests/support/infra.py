from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmsvc.common.broker_setup import BrokerFiles
from llmsvc.common.nats_identity import NatsIdentity
from tests.support.broker import identity_of


@dataclass(frozen=True)
class Infra:
    """Where the real NATS and Mongo-compatible server of this test run listen."""

    nats_url: str
    mongo_uri: str
    workdir: Path
    #: The NATS identities, when this run started its own NATS (None: anonymous).
    broker: BrokerFiles | None = None

    def nats_identity(self, name: str = "harness") -> NatsIdentity:
        return identity_of(self.broker, name)

    def seed_file(self, name: str) -> Path | None:
        """For a service's settings (`nats_nkey_seed_file`)."""
        return self.broker.seed_file(name) if self.broker is not None else None
