"""Ending logins: a password change ends every other login of the user (its refresh and
access tokens, on every gateway) and keeps the one that asked; log out everywhere ends
them all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import PASSWORD
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a brand new passphrase"


async def login(api: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    r = await api.post("/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def me(api: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    return (await api.get("/auth/me", headers=bearer(tokens))).status_code


async def test_a_password_change_ends_the_other_logins_only(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        email = "changer@example.com"
        r = await api.post(
            "/auth/register", json={"name": "Cy", "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201
        here, laptop = await login(api, email), await login(api, email)

        r = await api.post(
            "/auth/password",
            json={"current_password": "not it", "new_password": NEW_PASSWORD},
            headers=bearer(here),
        )
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
        r = await api.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": "password1"},
            headers=bearer(here),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
        r = await api.post(
            "/auth/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=bearer(here),
        )
        assert r.status_code == 200, r.text

        # The laptop's login is over: its access token at once, its refresh token too.
        assert await me(api, laptop) == 401
        r = await api.post("/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
        assert r.status_code == 401
        # This login goes on, and refreshes.
        assert await me(api, here) == 200
        r = await api.post("/auth/refresh", json={"refresh_token": here["refresh_token"]})
        assert r.status_code == 200
        # Only the new password works from now on.
        r = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert r.status_code == 401
        await login(api, email, NEW_PASSWORD)


async def test_logout_all_ends_every_login(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        email = "leaver@example.com"
        r = await api.post(
            "/auth/register", json={"name": "Di", "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201
        first, second = await login(api, email), await login(api, email)
        r = await api.post("/auth/logout-all", headers=bearer(first))
        assert r.status_code == 200, r.text
        for tokens in (first, second):
            assert await me(api, tokens) == 401
            r = await api.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert r.status_code == 401
        # A new login works.
        assert await me(api, await login(api, email)) == 200


async def test_a_reused_refresh_token_ends_the_login_and_its_live_access_tokens(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        email = "stolen@example.com"
        r = await api.post(
            "/auth/register", json={"name": "Ed", "email": email, "password": PASSWORD}
        )
        assert r.status_code == 201
        stolen = await login(api, email)
        r = await api.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert r.status_code == 200
        # The owner goes on refreshing (a second exchange of the old token right away
        # would be taken for two tabs refreshing at once: the grace window).
        r = await api.post("/auth/refresh", json={"refresh_token": r.json()["refresh_token"]})
        assert r.status_code == 200
        rotated = r.json()
        assert await me(api, rotated) == 200
        # The thief presents the old token: every login of the user ends, access too.
        r = await api.post("/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        assert r.status_code == 401 and r.json()["error"]["code"] == "refresh_token_reused"
        assert await me(api, rotated) == 401
        assert await me(api, stolen) == 401
