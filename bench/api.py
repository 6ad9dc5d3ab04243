"""Setting up the users and conversations a benchmark streams into, through the
gateway's public API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

# Not containing the users' name or email (auth refuses those).
PASSWORD = "quiet harbour lights 42"


class SetupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Conversation:
    headers: dict[str, str]
    session_id: str
    thread_id: str


async def register_and_login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await client.post(
        "/auth/register", json={"name": "Bench", "email": email, "password": PASSWORD}
    )
    if r.status_code != 201:
        raise SetupError(f"register {email}: {r.status_code} {r.text[:200]}")
    r = await client.post("/auth/login", json={"email": email, "password": PASSWORD})
    if r.status_code != 200:
        raise SetupError(f"login {email}: {r.status_code} {r.text[:200]}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def create_users(client: httpx.AsyncClient, n: int, tag: str) -> list[dict[str, str]]:
    """`n` users, logged in: their Authorization headers."""
    gate = asyncio.Semaphore(4)

    async def one(i: int) -> dict[str, str]:
        async with gate:
            return await register_and_login(client, f"bench-{tag}-{i}@example.com")

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def create_conversations(
    client: httpx.AsyncClient, users: list[dict[str, str]], n: int, *, parallel: int = 16
) -> list[Conversation]:
    """`n` fresh sessions, owned round-robin by `users`."""
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> Conversation:
        headers = users[i % len(users)]
        async with gate:
            r = await client.post(
                "/conversation/session", json={"name": f"bench {i}"}, headers=headers
            )
        if r.status_code != 201:
            raise SetupError(f"create session: {r.status_code} {r.text[:200]}")
        body = r.json()
        return Conversation(headers, str(body["session_id"]), str(body["thread_id"]))

    return list(await asyncio.gather(*(one(i) for i in range(n))))
