"""Two web replicas behind one browser cookie: when the access token has expired, both
refresh it at the same moment with the same refresh token, and the user stays signed
in on both (the refresh grace), instead of being signed out everywhere as a theft."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.conftest import e2e_stack
from tests.support.api import PASSWORD
from tests.support.infra import Infra
from tests.support.procs import Proc, free_port
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

#: Access tokens that expire quickly (the least allowed), with no leeway.
SHORT_TOKENS = {"ACCESS_TOKEN_TTL_S": "30", "JWT_LEEWAY_S": "0"}


@pytest.fixture(scope="module")
async def stack(
    infra: Infra, mockllm: Proc, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with e2e_stack(infra, mockllm, tmp_path_factory, SHORT_TOKENS) as s:
        yield s


async def sign_in(web: httpx.AsyncClient, email: str) -> None:
    """Register through the gateway, then log in with the web's own form."""
    page = await web.get("/web/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    r = await web.post(
        "/web/auth/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert r.status_code == 303 and r.headers["location"] == "/web/chat", r.text[:300]


async def test_two_web_replicas_refreshing_at_once_keep_the_user_signed_in(
    stack: Stack,
) -> None:
    port = free_port()
    second = stack.add("web-2", "llm-web", port=port, WEB_PORT=str(port))
    email = f"replicas-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        r = await api.post(
            "/auth/register", json={"name": "Rey", "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201, r.text
    async with (
        httpx.AsyncClient(base_url=stack.web_url, timeout=30) as first,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{second.port}", timeout=30) as other,
    ):
        await sign_in(first, email)
        other.cookies = first.cookies  # one browser, its requests reaching either replica
        assert (await other.get("/web/api/sessions")).status_code == 200
        await asyncio.sleep(31)  # the access token in the cookie has expired
        both = await asyncio.gather(first.get("/web/api/sessions"), other.get("/web/api/sessions"))
        assert [r.status_code for r in both] == [200, 200], [r.text[:200] for r in both]
        assert all("set-cookie" in r.headers for r in both)  # each refreshed
        # Both refreshed sessions go on working, each on its replica and on the other.
        for client in (first, other):
            assert (await client.get("/web/api/sessions")).status_code == 200
        other.cookies = first.cookies
        assert (await other.get("/web/api/sessions")).status_code == 200
