from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from llmsvc.common import subjects
from tests.support.infra import Infra
from tests.support.mockllm import start_mockllm
from tests.support.procs import Proc
from tests.support.stack import Stack, running_stack, wait_for_responders

#: Two models on offer, both served by the one mockllm (it answers to any model name).
E2E_MODELS = [{"id": "mock-model", "name": "Mock"}, {"id": "mock-large", "name": "Mock Large"}]
READY_SUBJECTS = [subjects.AUTH_USER_GET, subjects.SESSIONS_GET, subjects.AGENT_HISTORY]


@pytest.fixture(scope="module")
def mockllm(infra: Infra) -> Iterator[Proc]:
    proc = start_mockllm(infra.workdir)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    with running_stack(
        workdir,
        nats_url=infra.nats_url,
        mongo_uri=infra.mongo_uri,
        model_url=f"http://127.0.0.1:{mockllm.port}/v1",
        web=True,
        # A short lock TTL, so workers renew it every 2.5 s (a lost lock shows quickly).
        # The test client on 127.0.0.1 is the trusted proxy: X-Forwarded-For says which
        # address a request comes from.
        extra_env={
            "MODELS": json.dumps(E2E_MODELS),
            "RUN_LOCK_TTL_S": "10",
            "TRUSTED_PROXIES": "127.0.0.1",
        },
    ) as s:
        await wait_for_responders(infra.nats_url, READY_SUBJECTS)
        yield s


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client
