from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Infra:
    """Where the real NATS and Mongo-compatible server of this test run listen."""

    nats_url: str
    mongo_uri: str
    workdir: Path
