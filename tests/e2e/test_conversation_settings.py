"""What a user chooses for a conversation (its model and instructions) reaches the
model, and a conversation nobody named gets a title after its first exchange."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from llmsvc.common.contracts.sessions import DEFAULT_SESSION_NAME
from tests.support.api import register_and_login, stream_turn
from tests.support.mockllm import last_request_mentioning
from tests.support.procs import Proc

pytestmark = pytest.mark.e2e


async def session_of(api: httpx.AsyncClient, headers: dict[str, str], session_id: str) -> Any:
    r = await api.get(f"/conversation/session/{session_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_models_on_offer_and_a_conversation_that_picks_one(
    api: httpx.AsyncClient, mockllm: Proc
) -> None:
    headers = await register_and_login(api, "models@example.com")
    r = await api.get("/models", headers=headers)
    assert r.status_code == 200
    assert r.json() == {
        "models": [
            {"id": "mock-model", "name": "Mock", "default": True},
            {"id": "mock-large", "name": "Mock Large", "default": False},
        ]
    }
    assert (await api.get("/models")).status_code == 401

    r = await api.post("/conversation/session", json={"model": "gpt-9"}, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["fields"][0]["loc"] == ["body", "model"]

    r = await api.post(
        "/conversation/session", json={"name": "Big", "model": "mock-large"}, headers=headers
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["model"] == "mock-large" and session["instructions"] == ""
    events = await stream_turn(api, headers, session["session_id"], "which model? m1")
    assert events[-1].event == "done"
    assert (await last_request_mentioning(mockllm, "which model? m1"))["model"] == "mock-large"

    # Switched back by PATCH: the next run uses it (the gateway's cache follows).
    r = await api.patch(
        f"/conversation/session/{session['session_id']}",
        json={"model": "mock-model"},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["model"] == "mock-model"
    r = await api.patch(
        f"/conversation/session/{session['session_id']}", json={"model": "nope"}, headers=headers
    )
    assert r.status_code == 422
    r = await api.patch(f"/conversation/session/{session['session_id']}", json={}, headers=headers)
    assert r.status_code == 422
    events = await stream_turn(api, headers, session["session_id"], "which model? m2")
    assert events[-1].event == "done"
    assert (await last_request_mentioning(mockllm, "which model? m2"))["model"] == "mock-model"


async def test_instructions_reach_the_model_as_its_system_message(
    api: httpx.AsyncClient, mockllm: Proc
) -> None:
    headers = await register_and_login(api, "instructions@example.com")
    r = await api.post(
        "/conversation/session",
        json={"name": "Pirate", "instructions": "Answer like a pirate."},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    session_id = r.json()["session_id"]
    await stream_turn(api, headers, session_id, "ahoy i1")
    sent = (await last_request_mentioning(mockllm, "ahoy i1"))["messages"]
    assert sent[0] == {"role": "system", "content": "Answer like a pirate."}
    assert sent[-1]["content"] == "ahoy i1"

    r = await api.patch(
        f"/conversation/session/{session_id}",
        json={"instructions": "Be brief."},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["instructions"] == "Be brief."
    await stream_turn(api, headers, session_id, "ahoy i2")
    sent = (await last_request_mentioning(mockllm, "ahoy i2"))["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sum(m["role"] == "system" for m in sent) == 1  # instructions are not history

    too_long = {"instructions": "x" * 4001}
    r = await api.patch(f"/conversation/session/{session_id}", json=too_long, headers=headers)
    assert r.status_code == 422


async def test_an_unnamed_conversation_gets_a_title_and_a_named_one_keeps_its_name(
    api: httpx.AsyncClient, mockllm: Proc
) -> None:
    headers = await register_and_login(api, "titles@example.com")
    r = await api.post("/conversation/session", json={}, headers=headers)
    unnamed = r.json()
    assert (unnamed["name"], unnamed["title_source"]) == (DEFAULT_SESSION_NAME, "default")
    events = await stream_turn(api, headers, unnamed["session_id"], "Plan a trip to Lisbon")
    assert events[-1].event == "done"

    for _ in range(100):  # the title is made after the reply, in the background
        session = await session_of(api, headers, unnamed["session_id"])
        if session["title_source"] == "auto":
            break
        await asyncio.sleep(0.1)
    assert session["title_source"] == "auto"
    # mockllm echoes the title request, which quotes the exchange.
    assert session["name"].startswith("You said: User: Plan a trip to Lisbon")
    assert len(session["name"]) <= 60
    title_request = await last_request_mentioning(mockllm, "User: Plan a trip to Lisbon")
    assert title_request["messages"][0]["role"] == "system"
    assert title_request.get("stream") is not True

    r = await api.post("/conversation/session", json={"name": "My trip"}, headers=headers)
    named = r.json()
    assert named["title_source"] == "user"
    await stream_turn(api, headers, named["session_id"], "Plan a trip to Porto")
    await asyncio.sleep(1)  # time for a title call, were one made
    session = await session_of(api, headers, named["session_id"])
    assert (session["name"], session["title_source"]) == ("My trip", "user")
    # A later rename is the user's, and the second turn never asks for a title.
    r = await api.patch(
        f"/conversation/session/{unnamed['session_id']}", json={"name": "Lisbon"}, headers=headers
    )
    assert r.json()["title_source"] == "user"
