"""Abuse limits as an attacker meets them through the real processes: failed logins for
one account from one address are refused with 429 and `Retry-After` after ten tries,
whichever gateway replica they reach, while the owner elsewhere still logs in."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import PASSWORD, register_and_login
from tests.support.procs import Proc
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.23"


async def test_failed_logins_are_throttled_across_gateways(
    stack: Stack, second_gateway: Proc
) -> None:
    urls = [stack.gateway_url, f"http://127.0.0.1:{second_gateway.port}"]
    async with httpx.AsyncClient(timeout=30) as client:
        async with httpx.AsyncClient(base_url=urls[0], timeout=30) as api:
            await register_and_login(api, "target@example.com")

        async def login(i: int, password: str, address: str) -> httpx.Response:
            return await client.post(
                f"{urls[i % 2]}/auth/login",
                json={"email": "target@example.com", "password": password},
                headers={"X-Forwarded-For": address},
            )

        for i in range(10):
            r = await login(i, "not the password", ATTACKER)
            assert r.status_code == 401, r.text
        for i in range(2):  # on both replicas, even with the right password
            r = await login(i, PASSWORD, ATTACKER)
            assert r.status_code == 429, r.text
            assert int(r.headers["retry-after"]) >= 1
            body = r.json()["error"]
            assert body["code"] == "rate_limited" and body["retry_after_s"] >= 1
        # The owner, from elsewhere, is not locked out, and does not free the attacker.
        r = await login(0, PASSWORD, OWNER)
        assert r.status_code == 200, r.text
        assert (await login(1, PASSWORD, ATTACKER)).status_code == 429
        # A forged X-Forwarded-For from an untrusted peer is not believed: the first
        # gateway trusts 127.0.0.1 only as a proxy, so the hop it names is the client.
        r = await client.post(
            f"{urls[0]}/auth/login",
            json={"email": "target@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": f"{ATTACKER}, 10.0.0.1"},
        )
        assert r.status_code == 200  # 10.0.0.1 is the nearest untrusted hop: a new client
