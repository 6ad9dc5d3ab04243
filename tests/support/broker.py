"""The test NATS's identities: the services' seeds for the processes a test starts, and
the harness identity (allowed everything) for the test's own connections."""

from __future__ import annotations

import os
from pathlib import Path

from llmsvc.common.broker_permissions import HARNESS, inbox_prefix
from llmsvc.common.broker_setup import BrokerFiles
from llmsvc.common.nats_identity import NatsIdentity

#: The script a stack process runs → the NATS identity it connects as.
SCRIPT_IDENTITY = {
    "llm-auth": "auth",
    "llm-sessions": "sessions",
    "llm-agent-worker": "agent-worker",
    "llm-gateway": "gateway",
}


def identity_of(files: BrokerFiles | None, name: str = HARNESS.name) -> NatsIdentity:
    """How a test (or one of its processes) connects as `name`; anonymous without files."""
    if files is None:
        return NatsIdentity()
    return NatsIdentity(
        seed=files.seed_file(name).read_text().strip(), inbox_prefix=inbox_prefix(name)
    )


def seed_env(files: BrokerFiles | None, script: str) -> dict[str, str]:
    """The environment that gives a stack process its identity."""
    name = SCRIPT_IDENTITY.get(script)
    if files is None or name is None:
        return {}
    return {"NATS_NKEY_SEED_FILE": str(files.seed_file(name))}


def identity_from_env() -> NatsIdentity:
    """For benchmark helper processes: `NATS_NKEY_SEED_FILE` if set."""
    path = os.environ.get("NATS_NKEY_SEED_FILE")
    if not path:
        return NatsIdentity()
    return NatsIdentity(seed=Path(path).read_text().strip())
