"""A user's whole journey through the real processes: register, log in, chat with
memory, and find the conversation intact after the worker and gateway restart."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pymongo import AsyncMongoClient

from llmsvc.mockllm.replies import reply_for, tokenize
from tests.support.api import register_and_login, stream_turn
from tests.support.sse import SseEvent
from tests.support.stack import Stack, wait_for_responders

pytestmark = pytest.mark.e2e


async def stored_count(
    stack: Stack, thread_id: str, *, collection: str = "checkpoints", settle_on: int | None = None
) -> int:
    """Documents of a thread in a collection of the agent database (`checkpoints` or
    `messages`); with `settle_on`, wait (up to 10 s) for that count, since workers delete
    and prune asynchronously."""
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack.env["MONGO_URI"])
    try:
        docs = mongo[f"{stack.env['MONGO_DB']}_agent"][collection]
        for _ in range(100):
            count = await docs.count_documents({"thread_id": thread_id})
            if settle_on is None or count == settle_on:
                break
            await asyncio.sleep(0.1)
        return count
    finally:
        await mongo.close()


def assert_well_formed(events: list[SseEvent], session_id: str, expected_reply: str) -> None:
    # `queued` comes from the gateway at once, unstored and without an id; the run's
    # stored events follow, numbered from 1.
    queued, events = events[0], events[1:]
    assert queued.event == "queued" and queued.id is None
    assert queued.data == {"run_id": events[0].data["run_id"], "session_id": session_id}
    assert [e.id for e in events] == list(range(1, len(events) + 1)), "ids count up from 1"
    assert events[0].event == "metadata"
    assert events[0].data["session_id"] == session_id
    assert events[0].data["run_id"] and events[0].data["thread_id"]
    tokens = [e for e in events if e.event == "token"]
    assert tokens, "the reply streamed in tokens"
    assert "".join(e.data["text"] for e in tokens) == expected_reply
    done = events[-1]
    assert done.event == "done"
    assert done.data["message"]["role"] == "assistant"
    assert done.data["message"]["content"] == expected_reply
    assert done.data["message"]["id"]
    assert done.data["finish_reason"] == "stop"
    assert done.data["usage"]["output_tokens"] == len(tokenize(expected_reply))
    assert done.data["usage"]["input_tokens"] > 0
    assert {e.event for e in events} <= {"metadata", "token", "done"}


async def test_register_login_chat_with_memory_survives_restarts(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    headers = await register_and_login(api, "ada@example.com")
    r = await api.post("/conversation/session", json={"name": "First chat"}, headers=headers)
    assert r.status_code == 201, r.text
    session = r.json()
    session_id = session["session_id"]
    assert session["name"] == "First chat"

    first = await stream_turn(api, headers, session_id, "Hello there")
    first_reply = reply_for([{"role": "user", "content": "Hello there"}])
    assert_well_formed(first, session_id, first_reply)

    # The model must receive the first turn: the mock's reply counts the user turns.
    second = await stream_turn(api, headers, session_id, "What did I say?")
    second_reply = reply_for(
        [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": first_reply},
            {"role": "user", "content": "What did I say?"},
        ]
    )
    assert "2 user messages" in second_reply
    assert_well_formed(second, session_id, second_reply)
    assert first[0].data["run_id"] != second[0].data["run_id"]

    r = await api.get(f"/conversation/session/{session_id}/history", headers=headers)
    assert r.status_code == 200, r.text
    before = r.json()["messages"]
    assert [(m["role"], m["content"]) for m in before] == [
        ("user", "Hello there"),
        ("assistant", first_reply),
        ("user", "What did I say?"),
        ("assistant", second_reply),
    ]
    assert all(m["id"] and m["created_at"] for m in before)

    stack.procs["worker"].restart()
    stack.procs["gateway"].restart()
    await wait_for_responders(
        stack.env["NATS_URL"], ["agent.v1.history"], identity=stack.nats_identity()
    )

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as fresh:
        r = await fresh.get(f"/conversation/session/{session_id}/history", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["messages"] == before
        # And the conversation goes on where it was.
        third = await stream_turn(fresh, headers, session_id, "Still there?")
        assert "3 user messages" in third[-1].data["message"]["content"]


async def test_conversation_without_session_creates_one_and_blocking_reply(
    api: httpx.AsyncClient,
) -> None:
    headers = await register_and_login(api, "grace@example.com")
    r = await api.post("/conversation", json={"message": "Hi", "stream": False}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"]["content"] == reply_for([{"role": "user", "content": "Hi"}])
    assert body["usage"]["output_tokens"] > 0
    r = await api.get(f"/conversation/session/{body['session_id']}", headers=headers)
    assert r.status_code == 200
    listed = (await api.get("/conversation/sessions", headers=headers)).json()["sessions"]
    assert [s["session_id"] for s in listed] == [body["session_id"]]


async def test_another_users_session_is_invisible(api: httpx.AsyncClient) -> None:
    alice = await register_and_login(api, "alice@example.com")
    mallory = await register_and_login(api, "mallory@example.com")
    session_id = (await api.post("/conversation/session", json={}, headers=alice)).json()[
        "session_id"
    ]
    for method, path, body in [
        ("GET", f"/conversation/session/{session_id}", None),
        ("GET", f"/conversation/session/{session_id}/history", None),
        ("PATCH", f"/conversation/session/{session_id}", {"name": "mine now"}),
        ("DELETE", f"/conversation/session/{session_id}", None),
        ("POST", "/conversation", {"message": "hi", "session_id": session_id}),
    ]:
        r = await api.request(method, path, json=body, headers=mallory)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "session_not_found"
    me = (await api.get("/auth/me", headers=alice)).json()
    r = await api.get(f"/conversation/sessions/user/{me['user_id']}", headers=mallory)
    assert r.status_code == 403
    assert (await api.get(f"/conversation/session/{session_id}", headers=alice)).status_code == 200


async def test_health_readiness_and_metrics(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "nats": True,
        "auth": True,
        "sessions": True,
        "revocations": True,
        "token_keys": True,
    }
    metrics = (await api.get("/metrics")).text
    started = [
        line for line in metrics.splitlines() if line.startswith("llm_gateway_runs_started_total")
    ]
    assert started and float(started[0].split()[-1]) >= 1, "runs from earlier tests are counted"
    assert (await api.get("/docs")).status_code == 200
    assert "/conversation" in (await api.get("/openapi.json")).json()["paths"]


async def test_deleting_a_conversation_removes_its_messages_and_checkpoints(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    headers = await register_and_login(api, "forget-me@example.com")
    r = await api.post(
        "/conversation", json={"message": "remember this", "stream": False}, headers=headers
    )
    session_id = r.json()["session_id"]
    thread_id = (await api.get(f"/conversation/session/{session_id}", headers=headers)).json()[
        "thread_id"
    ]
    assert await stored_count(stack, thread_id) > 0
    assert await stored_count(stack, thread_id, collection="messages") == 2
    assert (
        await api.delete(f"/conversation/session/{session_id}", headers=headers)
    ).status_code == 204
    r = await api.get(f"/conversation/session/{session_id}/history", headers=headers)
    assert r.status_code == 404
    # Removed asynchronously by a worker, via JetStream.
    assert await stored_count(stack, thread_id, settle_on=0) == 0
    assert await stored_count(stack, thread_id, collection="messages", settle_on=0) == 0


async def test_logout_kills_the_access_and_refresh_token_on_every_gateway(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    email = "leaving@example.com"
    await register_and_login(api, email)
    login = (
        await api.post("/auth/login", json={"email": email, "password": "correct horse"})
    ).json()
    headers = {"Authorization": f"Bearer {login['access_token']}"}
    other = await register_and_login(api, "staying@example.com")
    assert (await api.get("/auth/me", headers=headers)).status_code == 200
    r = await api.post(
        "/auth/logout", json={"refresh_token": login["refresh_token"]}, headers=headers
    )
    assert r.status_code == 200, r.text
    r = await api.get("/auth/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_revoked"
    r = await api.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    assert r.status_code == 401
    assert (await api.get("/auth/me", headers=other)).status_code == 200, "others unaffected"

    stack.procs["gateway"].restart()  # a new replica learns the revocation from NATS KV
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as fresh:
        assert (await fresh.get("/auth/me", headers=headers)).status_code == 401
        assert (await fresh.get("/auth/me", headers=other)).status_code == 200


async def test_a_long_conversation_keeps_its_memory_within_the_context_budget(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    headers = await register_and_login(api, "long-talk@example.com")
    session_id = (await api.post("/conversation/session", json={}, headers=headers)).json()[
        "session_id"
    ]
    thread_id = (await api.get(f"/conversation/session/{session_id}", headers=headers)).json()[
        "thread_id"
    ]

    async def say(text: str) -> str:
        r = await api.post(
            "/conversation",
            json={"message": text, "session_id": session_id, "stream": False},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["message"]["content"])

    for turn in range(1, 8):
        assert f"I have seen {turn} user messages" in await say(f"turn {turn}")
    # The messages are stored once each; each checkpoint holds one turn, and older
    # ones are pruned every 8 turns (16 messages).
    assert await stored_count(stack, thread_id, collection="messages") == 14
    assert await stored_count(stack, thread_id) == 7
    assert "I have seen 8 user messages" in await say("turn 8")
    assert await stored_count(stack, thread_id, settle_on=1) == 1

    # With a context of 4 earlier messages the model sees the last two exchanges and
    # the new question, while history keeps every turn.
    worker = stack.procs["worker"]
    worker.env["CONTEXT_MAX_MESSAGES"] = "4"
    try:
        worker.restart()
        await wait_for_responders(
            stack.env["NATS_URL"], ["agent.v1.history"], identity=stack.nats_identity()
        )
        assert "I have seen 3 user messages" in await say("turn 9")
    finally:
        del worker.env["CONTEXT_MAX_MESSAGES"]
        worker.restart()
        await wait_for_responders(
            stack.env["NATS_URL"], ["agent.v1.history"], identity=stack.nats_identity()
        )
    history = (
        await api.get(f"/conversation/session/{session_id}/history", headers=headers)
    ).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == [
        f"turn {n}" for n in range(1, 10)
    ]


async def test_deleting_a_conversation_mid_reply_leaves_no_checkpoints(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    from tests.support.sse import read_sse

    headers = await register_and_login(api, "delete-mid-reply@example.com")
    session = (await api.post("/conversation/session", json={}, headers=headers)).json()
    kinds: list[str] = []
    async with api.stream(
        "POST",
        "/conversation",
        json={
            "message": "slow [mock:tps=20] [mock:tokens=30]",
            "session_id": session["session_id"],
        },
        headers=headers,
    ) as r:
        async for event in read_sse(r):
            kinds.append(event.event)
            if event.event == "metadata":
                d = await api.delete(
                    f"/conversation/session/{session['session_id']}", headers=headers
                )
                assert d.status_code == 204
    assert kinds[-1] == "done"
    thread_id = session["thread_id"]
    assert await stored_count(stack, thread_id, settle_on=0) == 0
    assert await stored_count(stack, thread_id, collection="messages", settle_on=0) == 0
