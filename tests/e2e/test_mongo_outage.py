"""The Mongo-compatible server goes away while a reply streams, so the turn's
checkpoint and messages cannot be written when it ends. That is not the model's
failure: the turn is not lost, and the client gets the whole reply once the server is
back, stored exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from llmsvc.common import subjects
from tests.support.api import new_session, register_and_login
from tests.support.infra import Infra
from tests.support.mockllm import start_mockllm
from tests.support.procs import Proc, start_mongo
from tests.support.sse import SseEvent, read_sse
from tests.support.stack import Stack, running_stack, wait_for_responders

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def own_mongo_stack(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, Proc]]:
    workdir: Path = tmp_path_factory.mktemp("mongo-outage")
    mongo = start_mongo(workdir)
    model = start_mockllm(workdir)
    try:
        with running_stack(
            workdir,
            nats_url=infra.nats_url,
            broker=infra.broker,
            mongo_uri=f"mongodb://127.0.0.1:{mongo.port}/?directConnection=true",
            model_url=f"http://127.0.0.1:{model.port}/v1",
        ) as stack:
            await wait_for_responders(
                infra.nats_url,
                [subjects.AUTH_USER_GET, subjects.SESSIONS_GET],
                identity=infra.nats_identity(),
            )
            yield stack, mongo
    finally:
        model.stop()
        mongo.stop()


async def test_a_mongo_outage_at_the_end_of_a_turn_does_not_lose_it(
    own_mongo_stack: tuple[Stack, Proc],
) -> None:
    stack, mongo = own_mongo_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as api:
        headers = await register_and_login(api, "outage@example.com")
        session_id = await new_session(api, headers)
        question = "keep this [mock:tps=20] [mock:tokens=30]"
        events: list[SseEvent] = []
        outage_ready: list[dict[str, object]] = []
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": question, "session_id": session_id},
            headers=headers,
        ) as r:
            assert r.status_code == 200
            mongo_up_at_last_token = True
            async for event in read_sse(r):
                events.append(event)
                if event.event == "token":
                    mongo_up_at_last_token = mongo.alive
                if event.event == "token" and sum(e.event == "token" for e in events) == 2:
                    mongo.stop()  # gone until after the reply has ended

                    async def come_back() -> None:
                        # The gateway has no database of its own: it reports the
                        # services' storage as not ready.
                        outage_ready.append((await api.get("/readyz")).json())
                        await asyncio.sleep(1)
                        mongo.start()

                    returning = asyncio.create_task(come_back())
        await returning
        # The reply ended, and its turn was written, while the server was away.
        assert not mongo_up_at_last_token
        assert events[-1].event == "done", [e.event for e in events]
        # What the client shows: the tokens since the last `reset` (if the turn ran again).
        start = max((i for i, e in enumerate(events) if e.event == "reset"), default=0)
        text = "".join(e.data["text"] for e in events[start:] if e.event == "token")
        assert text == events[-1].data["message"]["content"]
        assert not any(e.event == "error" for e in events)
        (during,) = outage_ready
        assert during["status"] == "not_ready"
        assert during["checks"] == {
            "nats": True,
            "auth": False,
            "sessions": False,
            "revocations": True,
            "token_keys": True,
        }

        r = await api.get(f"/conversation/session/{session_id}/history", headers=headers)
        assert r.status_code == 200, r.text
        messages = r.json()["messages"]
        assert [(m["role"], m["status"]) for m in messages] == [
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert messages[0]["content"] == question
        assert messages[1]["content"] == events[-1].data["message"]["content"]
