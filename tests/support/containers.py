"""Real `mongo:7` and `nats` (JetStream) in containers, where a Docker engine exists."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator


def docker_engine_available() -> tuple[bool, str]:
    if shutil.which("docker") is None:
        return False, "no docker client on PATH"
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker info failed: {exc}"
    if done.returncode != 0:
        return False, "no Docker engine answers (docker info failed)"
    return True, "docker engine available"


@contextlib.contextmanager
def mongo_and_nats_containers() -> Iterator[tuple[str, str]]:
    """Yield (nats_url, mongo_uri) of freshly started containers."""
    from testcontainers.community.mongodb import MongoDbContainer
    from testcontainers.community.nats import NatsContainer

    with (
        NatsContainer("nats:2.11", jetstream=True) as nats,
        MongoDbContainer("mongo:7") as mongo,
    ):
        yield nats.nats_uri(), mongo.get_connection_url()
