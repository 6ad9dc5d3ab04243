"""What the services write to their logs, read after a real session of use with
LOG_JSON=true: every line is one JSON object, lines logged while a run is served name
its run, conversation and user, and no password, API key, token or message text is
ever written (at the production level, info)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import e2e_stack
from tests.support.api import new_session, stream_turn, streamed_text
from tests.support.infra import Infra
from tests.support.procs import Proc
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "auth", "sessions", "worker", "web")


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    env = {"LOG_JSON": "true", "LOG_LEVEL": "INFO"}
    async with e2e_stack(infra, mockllm, tmp_path_factory, env) as s:
        yield s


def log_lines(stack: Stack, name: str) -> list[str]:
    return [line for line in stack.procs[name].log_path.read_text().splitlines() if line.strip()]


async def test_logs_are_json_name_the_run_and_keep_no_secret_or_message(stack: Stack) -> None:
    secret_password = f"Pw-{uuid.uuid4().hex}"
    wrong_password = f"Wrong-{uuid.uuid4().hex}"
    message = f"the purple walrus {uuid.uuid4().hex} sings"
    email = f"logs-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/register", json={"name": "Lo", "email": email, "password": secret_password}
        )
        assert r.status_code == 201
        r = await api.post("/auth/login", json={"email": email, "password": wrong_password})
        assert r.status_code == 401
        r = await api.post("/auth/login", json={"email": email, "password": secret_password})
        tokens = r.json()
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        sid = await new_session(api, headers)
        events = await stream_turn(api, headers, sid, message)
        run_id = events[0].data["run_id"]
        assert message in streamed_text(events)
        r = await api.post("/auth/api-keys", json={"name": "logs"}, headers=headers)
        api_key = r.json()["key"]
        sdk = openai.AsyncOpenAI(base_url=f"{stack.gateway_url}/v1", api_key=api_key)
        await sdk.chat.completions.create(
            model="mock-model", messages=[{"role": "user", "content": message + " again"}]
        )
        r = await api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200
    # The web's own login form too.
    async with httpx.AsyncClient(base_url=stack.web_url, timeout=30) as web:
        page = await web.get("/web/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        await web.post(
            "/web/auth/login",
            data={"email": email, "password": secret_password, "csrf_token": csrf},
        )

    secrets = {
        "password": secret_password,
        "wrong password": wrong_password,
        "message": "purple walrus",
        "API key": api_key,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
    }
    run_lines: list[dict[str, Any]] = []
    for name in SERVICES:
        for line in log_lines(stack, name):
            try:
                entry = json.loads(line)
            except ValueError:
                pytest.fail(f"{name} wrote a line that is not JSON: {line[:200]}")
            assert isinstance(entry, dict) and {"level", "timestamp"} <= entry.keys(), line
            for what, value in secrets.items():
                assert value not in line, f"{name} logged the {what}: {line[:300]}"
            if entry.get("run_id") == run_id:
                run_lines.append(entry)
    assert run_lines, "nothing logged for the run names it"
    worker = [e for e in run_lines if e.get("service") == "agent-worker"]
    assert worker, "the worker logged nothing for the run"
    assert {(e["session_id"], e["user_id"]) for e in worker} == {(sid, tokens["user"]["user_id"])}
