"""The same system against a real MongoDB 7 and nats-server in containers.

docs/design.md §2: everything must run unchanged on real MongoDB. These machines have no
Docker engine, so here this is reported as skipped (with the reason) rather than run;
where Docker exists it runs a full conversation turn through the real processes.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from llmsvc.common import subjects
from llmsvc.mockllm.replies import reply_for
from tests.support.containers import docker_engine_available, mongo_and_nats_containers
from tests.support.mockllm import base_url, running_mockllm
from tests.support.sse import collect_sse
from tests.support.stack import running_stack, wait_for_responders

pytestmark = pytest.mark.integration

DOCKER, WHY = docker_engine_available()


@pytest.mark.skipif(not DOCKER, reason=f"testcontainers path needs a Docker engine: {WHY}")
async def test_conversation_turn_on_real_mongo7_and_nats(tmp_path: Path) -> None:
    with (
        mongo_and_nats_containers() as (nats_url, mongo_uri),
        running_mockllm(tmp_path) as mock,
        running_stack(
            tmp_path, nats_url=nats_url, mongo_uri=mongo_uri, model_url=base_url(mock)
        ) as stack,
    ):
        await wait_for_responders(
            nats_url, [subjects.AUTH_USER_GET, subjects.SESSIONS_GET, subjects.AGENT_HISTORY]
        )
        async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
            creds = {"email": "tc@example.com", "password": "long enough, truly"}
            assert (
                await api.post("/auth/register", json={"name": "T", **creds})
            ).status_code == 201
            token = (await api.post("/auth/login", json=creds)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with api.stream(
                "POST", "/conversation", json={"message": "hello mongo"}, headers=headers
            ) as r:
                events = await collect_sse(r)
            assert events[-1].event == "done"
            expected = reply_for([{"role": "user", "content": "hello mongo"}])
            assert events[-1].data["message"]["content"] == expected
            sid = events[0].data["session_id"]
            r = await api.get(f"/conversation/session/{sid}/history", headers=headers)
            assert [m["content"] for m in r.json()["messages"]] == ["hello mongo", expected]
