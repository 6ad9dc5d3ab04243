from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from llmsvc.common import subjects
from tests.support.browser import chromium_path, launch
from tests.support.chat_page import WAIT_MS
from tests.support.infra import Infra
from tests.support.mockllm import start_mockllm
from tests.support.procs import Proc, free_port
from tests.support.stack import Stack, running_stack, wait_for_responders

#: Two models on offer, both served by the one mockllm (it answers to any model name).
E2E_MODELS = [{"id": "mock-model", "name": "Mock"}, {"id": "mock-large", "name": "Mock Large"}]
READY_SUBJECTS = [subjects.AUTH_USER_GET, subjects.SESSIONS_GET, subjects.AGENT_HISTORY]


@pytest.fixture(scope="module")
def mockllm(infra: Infra) -> Iterator[Proc]:
    proc = start_mockllm(infra.workdir)
    yield proc
    proc.stop()


@contextlib.asynccontextmanager
async def e2e_stack(
    infra: Infra,
    mockllm: Proc,
    tmp_path_factory: pytest.TempPathFactory,
    extra_env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> AsyncIterator[Stack]:
    """The whole stack with the end-to-end settings, plus `extra_env` (every service)
    and `service_env` (one service's own)."""
    workdir = tmp_path_factory.mktemp("stack")
    with running_stack(
        workdir,
        nats_url=infra.nats_url,
        mongo_uri=infra.mongo_uri,
        model_url=f"http://127.0.0.1:{mockllm.port}/v1",
        web=True,
        broker=infra.broker,
        # A short lock TTL, so workers renew it every 2.5 s (a lost lock shows quickly).
        # The test client on 127.0.0.1 is the trusted proxy: X-Forwarded-For says which
        # address a request comes from.
        extra_env={
            "MODELS": json.dumps(E2E_MODELS),
            "RUN_LOCK_TTL_S": "10",
            "TRUSTED_PROXIES": "127.0.0.1",
            **(extra_env or {}),
        },
        service_env=service_env,
    ) as s:
        await wait_for_responders(infra.nats_url, READY_SUBJECTS, identity=infra.nats_identity())
        yield s


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with e2e_stack(infra, mockllm, tmp_path_factory) as s:
        yield s


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def second_gateway(stack: Stack) -> AsyncIterator[Proc]:
    """Another gateway replica; like the first it trusts the proxy on 127.0.0.1 (the
    test client) to say who the client is."""
    port = free_port()
    proc = stack.add("gateway-2", "llm-gateway", port=port, GATEWAY_PORT=str(port))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as pw:
        b = await launch(pw, executable)
        try:
            yield b
        finally:
            await b.close()
