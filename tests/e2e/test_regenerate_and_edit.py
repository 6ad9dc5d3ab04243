"""Regenerate the last reply and edit an earlier user message: what they replace leaves
the history and the model's memory, and the conversation's one-run rule holds."""

from __future__ import annotations

import httpx
import pytest

from llmsvc.mockllm.replies import reply_for
from tests.support.api import history, new_session, register_and_login, stream_turn
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc
from tests.support.sse import SseEvent, collect_sse, read_sse

pytestmark = pytest.mark.e2e


async def regenerate(
    api: httpx.AsyncClient, headers: dict[str, str], session_id: str
) -> list[SseEvent]:
    async with api.stream(
        "POST", f"/conversation/session/{session_id}/regenerate", headers=headers
    ) as r:
        assert r.status_code == 200, await r.aread()
        return await collect_sse(r)


async def test_regenerate_replaces_the_last_reply(api: httpx.AsyncClient, mockllm: Proc) -> None:
    headers = await register_and_login(api, "regen@example.com")
    session_id = await new_session(api, headers)
    await stream_turn(api, headers, session_id, "first question")
    # The second reply used a tool: its tool steps go with it.
    second = 'second [mock:tool=calculator:{"expression": "6*7"}]'
    await stream_turn(api, headers, session_id, second)
    before = await history(api, headers, session_id)
    assert [m["role"] for m in before] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
    ]

    events = await regenerate(api, headers, session_id)
    assert [e.event for e in events[:2]] == ["queued", "metadata"], events[:2]
    assert events[-1].event == "done", events[-1]
    after = await history(api, headers, session_id)
    # The question stays (same id); the reply and its steps are new.
    assert [m["id"] for m in after[:3]] == [m["id"] for m in before[:3]]
    assert [m["role"] for m in after] == [m["role"] for m in before]
    assert {m["id"] for m in after[3:]}.isdisjoint(m["id"] for m in before[3:])
    assert after[-1]["content"] == events[-1].data["message"]["content"]
    # The model saw the conversation up to that question, not the replaced reply.
    sent = (await requests_ending_with(mockllm, second))[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]

    # Another turn sees one answer to the second question, not two.
    events = await stream_turn(api, headers, session_id, "third")
    assert "I have seen 3 user messages" in events[-1].data["message"]["content"]
    sent = (await requests_ending_with(mockllm, "third"))[-1]["messages"]
    assert [m["role"] for m in sent] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]


async def test_edit_replaces_a_message_and_everything_after_it(
    api: httpx.AsyncClient, mockllm: Proc
) -> None:
    headers = await register_and_login(api, "edit@example.com")
    session_id = await new_session(api, headers)
    for text in ("one", "two", "three"):
        await stream_turn(api, headers, session_id, text)
    before = await history(api, headers, session_id)
    two = before[2]
    assert two["content"] == "two"

    async with api.stream(
        "POST",
        "/conversation",
        json={"message": "TWO", "session_id": session_id, "edit_message_id": two["id"]},
        headers=headers,
    ) as r:
        assert r.status_code == 200
        events = await collect_sse(r)
    expected = reply_for(
        [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": before[1]["content"]},
            {"role": "user", "content": "TWO"},
        ]
    )
    assert events[-1].event == "done" and events[-1].data["message"]["content"] == expected
    after = await history(api, headers, session_id)
    assert [m["content"] for m in after] == ["one", before[1]["content"], "TWO", expected]
    sent = (await requests_ending_with(mockllm, "TWO"))[-1]["messages"]
    assert [m["content"] for m in sent] == ["one", before[1]["content"], "TWO"]

    # An id that is not a user message of this conversation: 404, nothing lost.
    r = await api.post(
        "/conversation",
        json={
            "message": "x",
            "session_id": session_id,
            "edit_message_id": after[1]["id"],
            "stream": False,
        },
        headers=headers,
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "message_not_found"
    assert await history(api, headers, session_id) == after
    r = await api.post(
        "/conversation", json={"message": "x", "edit_message_id": "user-1"}, headers=headers
    )
    assert r.status_code == 422


async def test_regenerate_and_edit_respect_the_one_run_rule(api: httpx.AsyncClient) -> None:
    headers = await register_and_login(api, "regen-busy@example.com")
    session_id = await new_session(api, headers)
    r = await api.post(
        f"/conversation/session/{session_id}/regenerate", json={"stream": False}, headers=headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "nothing_to_regenerate"

    async with api.stream(
        "POST",
        "/conversation",
        json={"message": "slow [mock:tps=20] [mock:tokens=40]", "session_id": session_id},
        headers=headers,
    ) as r:
        async for event in read_sse(r):
            if event.event == "token":
                busy = await api.post(
                    f"/conversation/session/{session_id}/regenerate", headers=headers
                )
                assert busy.status_code == 409 and busy.json()["error"]["code"] == "run_active"
                break
    other = await register_and_login(api, "regen-other@example.com")
    r = await api.post(f"/conversation/session/{session_id}/regenerate", headers=other)
    assert r.status_code == 404
