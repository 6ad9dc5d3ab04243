"""API keys as a program's owner uses them: made once (the secret shown only then),
used as a bearer on the API with the owner's data and limits, listed without the
secret, and refused on every gateway within a second of being revoked."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from tests.support.api import register_and_login, stream_turn, streamed_text
from tests.support.procs import Proc
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_an_api_key_works_like_its_owner_until_revoked_on_every_gateway(
    stack: Stack, second_gateway: Proc
) -> None:
    other_gateway = f"http://127.0.0.1:{second_gateway.port}"
    async with (
        httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api,
        httpx.AsyncClient(base_url=other_gateway, timeout=30) as api2,
    ):
        owner = await register_and_login(api, f"keys-{uuid.uuid4().hex[:8]}@example.com")
        r = await api.post("/auth/api-keys", json={"name": "ci bot"}, headers=owner)
        assert r.status_code == 201, r.text
        assert r.headers["cache-control"] == "no-store"
        created = r.json()
        key = created["key"]
        assert key.startswith("llms_") and len(key) >= 45
        assert key.startswith(created["prefix"]) and len(created["prefix"]) < 20
        as_key = {"Authorization": f"Bearer {key}"}

        # The key acts as its owner: the same conversations, on either gateway.
        r = await api2.post("/conversation/session", json={"name": "from the bot"}, headers=as_key)
        assert r.status_code == 201, r.text
        session_id = r.json()["session_id"]
        events = await stream_turn(api2, as_key, session_id, "hello from a program")
        assert events[-1].event == "done" and streamed_text(events)
        mine = (await api.get("/conversation/sessions", headers=owner)).json()["sessions"]
        assert session_id in [s["session_id"] for s in mine]
        me = (await api.get("/auth/me", headers=as_key)).json()
        assert me["user_id"] == (await api.get("/auth/me", headers=owner)).json()["user_id"]

        # Listed with what identifies it, never the secret; last use recorded.
        listed = (await api.get("/auth/api-keys", headers=owner)).json()["api_keys"]
        assert [k["key_id"] for k in listed] == [created["key_id"]]
        (entry,) = listed
        assert entry["name"] == "ci bot" and entry["prefix"] == created["prefix"]
        assert entry["last_used_at"] is not None and "key" not in entry
        assert key not in r.text

        # A key cannot manage the account: no new keys, no password change.
        r = await api.post("/auth/api-keys", json={"name": "more"}, headers=as_key)
        assert r.status_code == 403 and r.json()["error"]["code"] == "api_key_forbidden"
        r = await api.post(
            "/auth/password",
            json={"current_password": "x", "new_password": "y" * 12},
            headers=as_key,
        )
        assert r.status_code == 403

        # Someone else cannot see or revoke it.
        stranger = await register_and_login(api, f"stranger-{uuid.uuid4().hex[:8]}@example.com")
        assert (await api.get("/auth/api-keys", headers=stranger)).json()["api_keys"] == []
        r = await api.delete(f"/auth/api-keys/{created['key_id']}", headers=stranger)
        assert r.status_code == 404
        assert (await api2.get("/auth/me", headers=as_key)).status_code == 200

        # Revoked on one gateway: the other, which remembers the key, refuses it at once.
        r = await api.delete(f"/auth/api-keys/{created['key_id']}", headers=owner)
        assert r.status_code == 204
        revoked_at = time.monotonic()
        while (r := await api2.get("/auth/me", headers=as_key)).status_code == 200:
            assert time.monotonic() - revoked_at < 1.0, "still accepted a second later"
            await asyncio.sleep(0.05)
        assert r.status_code == 401
        assert (await api.get("/auth/me", headers=as_key)).status_code == 401
        assert (await api.get("/auth/api-keys", headers=owner)).json()["api_keys"] == []


async def test_made_up_or_malformed_keys_are_refused(api: httpx.AsyncClient) -> None:
    for key in ["llms_" + "A" * 43, "llms_", "llms_" + "x" * 300]:
        r = await api.get("/auth/me", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 401, (key[:10], r.text)
        assert r.json()["error"]["code"] == "invalid_api_key"
