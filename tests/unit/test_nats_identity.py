"""How a service finds its NATS identity, and that production will not start without
one (web, which does not speak NATS, needs none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from llmsvc.agent_worker.settings import WorkerSettings
from llmsvc.common.broker_permissions import IDENTITIES
from llmsvc.common.broker_setup import new_user_seed, public_key, write_broker_files
from llmsvc.gateway.settings import GatewaySettings
from llmsvc.sessions.settings import SessionsSettings
from llmsvc.web.settings import WebSettings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("settings", [GatewaySettings, SessionsSettings, WorkerSettings])
def test_production_refuses_to_start_without_a_nats_identity(settings: type) -> None:
    with pytest.raises(ValidationError, match="NATS_NKEY_SEED"):
        settings(environment="production", _env_file=None)
    assert settings(environment="production", nats_nkey_seed=new_user_seed(), _env_file=None)
    assert settings(environment="development", _env_file=None)


def test_web_needs_no_nats_identity() -> None:
    assert WebSettings(environment="production", session_secret="w" * 40, _env_file=None)


def test_the_seed_comes_inline_or_from_a_file_and_the_inbox_is_the_services(
    tmp_path: Path,
) -> None:
    seed = new_user_seed()
    (tmp_path / "gateway.seed").write_text(seed + "\n")
    from_file = GatewaySettings(nats_nkey_seed_file=tmp_path / "gateway.seed", _env_file=None)
    identity = from_file.nats_identity("gateway")
    assert identity.seed == seed and identity.inbox_prefix == "_INBOX_gateway"
    assert identity.connect_options() == {"nkeys_seed_str": seed, "inbox_prefix": "_INBOX_gateway"}
    inline = WorkerSettings(nats_nkey_seed=seed, _env_file=None).nats_identity("agent-worker")
    assert inline.seed == seed and inline.inbox_prefix == "_INBOX_agent_worker"


def test_generated_files_keep_their_seeds_and_name_every_service(tmp_path: Path) -> None:
    first = write_broker_files(tmp_path, port=4999)
    seeds = {n: p.read_text() for n, p in first.seeds.items()}
    assert set(seeds) == set(IDENTITIES)
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in first.seeds.values())
    again = write_broker_files(tmp_path, port=4999)
    assert {n: p.read_text() for n, p in again.seeds.items()} == seeds  # reused
    config = again.config.read_text()
    for seed in seeds.values():
        assert public_key(seed.strip()) in config and seed.strip() not in config
    assert "harness" not in {n for n in seeds}
