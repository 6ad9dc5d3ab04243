"""What the gateway shows on its public listener: API docs and metrics only where the
operator wants them (off, and on a separate port, in production)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from llmsvc.common.broker_setup import new_user_seed
from llmsvc.gateway.app import create_app
from llmsvc.gateway.settings import GatewaySettings

pytestmark = pytest.mark.unit

SEED = new_user_seed()


def paths(settings: GatewaySettings) -> set[str]:
    """Which of the operator-facing paths answer (the app's lifespan is not run: none of
    them needs NATS)."""
    client = TestClient(create_app(settings))
    wanted = ("/docs", "/redoc", "/openapi.json", "/metrics")
    return {path for path in wanted if client.get(path).status_code == 200}


def test_development_serves_docs_and_metrics_on_the_public_listener() -> None:
    found = paths(GatewaySettings(environment="development"))
    assert {"/docs", "/openapi.json", "/metrics"} <= found


def test_production_hides_docs_and_moves_metrics_off_the_public_listener() -> None:
    settings = GatewaySettings(environment="production", nats_nkey_seed=SEED)
    found = paths(settings)
    assert not {"/docs", "/redoc", "/openapi.json", "/metrics"} & found
    assert settings.separate_metrics_port == 9464
    # Each can be asked for explicitly.
    settings = GatewaySettings(
        environment="production", nats_nkey_seed=SEED, api_docs=True, metrics_port=9500
    )
    assert "/openapi.json" in paths(settings) and "/metrics" not in paths(settings)
    assert settings.separate_metrics_port == 9500


def test_the_openapi_schema_states_the_message_limit() -> None:
    schema = create_app(GatewaySettings(environment="development")).openapi()
    body = schema["components"]["schemas"]["ConversationBody"]["properties"]["message"]
    assert body["maxLength"] == 32_000 and body["minLength"] == 1
