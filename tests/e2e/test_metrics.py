"""Every service's Prometheus metrics, scraped from its own metrics port after a real
session of use: what an operator's dashboard shows must follow what users did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmsvc.common import subjects
from tests.e2e.conftest import e2e_stack
from tests.support.api import PASSWORD, new_session, register_and_login, stream_turn
from tests.support.infra import Infra
from tests.support.procs import Proc, free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "auth", "sessions", "worker", "web")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
async def metrics_stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, dict[str, int]]]:
    ports = {name: free_port() for name in SERVICES}
    own = {name: {"METRICS_PORT": str(port)} for name, port in ports.items()}
    # Two new conversations an hour per user: the third is refused by the quota.
    env = {"CONVERSATIONS_PER_HOUR_PER_USER": "2"}
    async with e2e_stack(infra, mockllm, tmp_path_factory, env, own) as s:
        yield s, ports


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200, r.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over the samples whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


async def test_each_service_counts_what_its_users_did(
    metrics_stack: tuple[Stack, dict[str, int]],
) -> None:
    stack, ports = metrics_stack
    email = f"metrics-{uuid.uuid4().hex[:8]}@example.com"
    # From one client address (the test client is the trusted proxy that names it).
    client = {"X-Forwarded-For": "203.0.113.9"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=client) as api:
        r = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 401  # no such account yet
        headers = await register_and_login(api, email)
        r = await api.post("/auth/login", json={"email": email, "password": "wrong horse"})
        assert r.status_code == 401
        sid = await new_session(api, headers)
        events = await stream_turn(api, headers, sid, "hello [mock:tokens=12]")
        assert events[-1].event == "done"
        events = await stream_turn(api, headers, sid, "again [mock:fail=500]")
        assert events[-1].event == "error"
        assert events[-1].data["code"] == "model_error"
        await new_session(api, headers)
        r = await api.post("/conversation/session", json={}, headers=headers)
        assert r.status_code == 429  # the third conversation this hour
        # Ten wrong passwords for one account from one address: the next is throttled.
        for _ in range(9):
            r = await api.post("/auth/login", json={"email": email, "password": "nope nope"})
            assert r.status_code == 401
        r = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 429
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=30) as web:
        assert (await web.get("/web/login")).status_code == 200

    # The worker counts a run after its terminal event is published; give it a moment.
    for _ in range(50):
        worker = await scrape(ports["worker"])
        if value(worker, "llm_worker_runs_ended_total") >= 2:
            break
        await asyncio.sleep(0.1)
    gateway, auth, sessions, web_samples = await asyncio.gather(
        *(scrape(ports[name]) for name in ("gateway", "auth", "sessions", "web"))
    )

    conversation = {"method": "POST", "route": "/conversation"}
    assert value(gateway, "llm_http_requests_total", status="200", **conversation) == 2
    assert value(gateway, "llm_http_requests_total", route="/auth/login", status="401") == 11
    assert value(gateway, "llm_http_requests_total", route="/conversation/session") == 3
    assert value(gateway, "llm_gateway_runs_started_total") == 2
    assert value(gateway, "llm_gateway_runs_rejected_total", reason="conversation_quota") == 1
    assert value(gateway, "llm_gateway_time_to_first_token_seconds_count") == 1
    assert value(gateway, "llm_gateway_events_relayed_total", type="token") >= 1
    assert value(gateway, "llm_gateway_events_relayed_total", type="done") == 1
    assert value(gateway, "llm_gateway_event_streams_open") == 0

    assert value(auth, "llm_auth_login_failures_total", reason="unknown_account") == 1
    assert value(auth, "llm_auth_login_failures_total", reason="wrong_password") == 10
    assert value(auth, "llm_auth_logins_total") == 1
    assert value(auth, "llm_auth_registrations_total") == 1
    assert value(auth, "llm_auth_throttled_total", kind="login") == 1
    # FastStream's middleware counts every request auth answered, by subject.
    assert value(auth, "llm_received_messages_total", handler=subjects.AUTH_LOGIN) == 13

    assert value(sessions, "llm_received_messages_total", handler=subjects.SESSIONS_CREATE) == 2
    assert value(sessions, "llm_received_processed_messages_total") >= 2

    assert value(worker, "llm_worker_runs_started_total") == 2
    assert value(worker, "llm_worker_runs_ended_total", outcome="done") == 1
    assert value(worker, "llm_worker_runs_ended_total", outcome="error", code="model_error") == 1
    assert value(worker, "llm_worker_model_errors_total", code="model_error") == 1
    assert value(worker, "llm_worker_model_tokens_total", kind="output") > 0
    assert value(worker, "llm_worker_time_to_first_token_seconds_count") == 1
    assert value(worker, "llm_worker_runs_active") == 0
    assert ("llm_jobs_pending", ()) in worker

    assert value(web_samples, "llm_http_requests_total", route="/web/login", status="200") == 1
