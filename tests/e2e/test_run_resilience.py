"""Every run ends with a terminal event, whatever fails; streams resume after a
disconnect; a run survives its worker being killed."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from llmsvc.common import subjects
from llmsvc.mockllm.replies import reply_for
from tests.support.api import new_session, register_and_login, stream_turn, streamed_text
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc
from tests.support.sse import SseEvent, collect_sse, read_sse, stored
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def headers(stack: Stack) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        return await register_and_login(api, "resilience@example.com")


@pytest.mark.parametrize(
    ("failure", "code", "status"),
    [
        ("500", "model_error", "error"),
        ("429", "model_rate_limited", "error"),
        ("disconnect", "model_unreachable", "interrupted"),
    ],
)
async def test_model_failure_ends_the_run_with_an_error_and_an_honest_history(
    stack: Stack, headers: dict[str, str], mockllm: Proc, failure: str, code: str, status: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        question = f"break [mock:fail={failure}]"
        events = await stream_turn(api, headers, sid, question)
        assert events[-1].event == "error", [e.event for e in events]
        assert events[-1].data["code"] == code
        assert "Traceback" not in json.dumps(events[-1].data)
        run = stored(events)
        assert [e.id for e in run] == list(range(1, len(run) + 1))
        # The turn stays as it ended: the question, and the partial answer if any.
        r = await api.get(f"/conversation/session/{sid}/history", headers=headers)
        messages = r.json()["messages"]
        assert [(m["role"], m["status"]) for m in messages] == [
            ("user", "complete"),
            ("assistant", status),
        ]
        assert messages[1]["content"] == streamed_text(events)
        assert (messages[1]["content"] != "") == (status == "interrupted")
        # The conversation is free again, and the model reads the same turn.
        events = await stream_turn(api, headers, sid, "and now?")
        assert events[-1].event == "done"
        sent = (await requests_ending_with(mockllm, "and now?"))[-1]["messages"]
        assert [(m["role"], m.get("content")) for m in sent] == [
            ("user", question),
            ("assistant", messages[1]["content"]),
            ("user", "and now?"),
        ]


@pytest.mark.parametrize("failure", ["500", "429"])
async def test_a_model_failure_before_the_first_token_is_retried(
    stack: Stack, headers: dict[str, str], mockllm: Proc, failure: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        question = f"flaky [mock:fail={failure}] [mock:fail_first=2]"
        events = await stream_turn(api, headers, sid, question)
        assert [e.event for e in events if e.event != "token"] == ["queued", "metadata", "done"]
        assert streamed_text(events) == reply_for([{"role": "user", "content": question}])
        tries = await requests_ending_with(mockllm, question)
        assert len(tries) == 3  # two failures, then the answer
        if failure == "429":
            # The model said when to try again (Retry-After: 1): each retry waited for it.
            gaps = [
                b["received_at"] - a["received_at"] for a, b in zip(tries, tries[1:], strict=False)
            ]
            assert min(gaps) >= 0.95, gaps


async def test_cancel_stops_the_run_and_keeps_the_partial_answer(
    stack: Stack, headers: dict[str, str], mockllm: Proc
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        seen: list[SseEvent] = []
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "long [mock:tps=10] [mock:tokens=200]", "session_id": sid},
            headers=headers,
        ) as r:
            async for event in read_sse(r):
                seen.append(event)
                if event.event == "token" and sum(e.event == "token" for e in seen) == 2:
                    run_id = seen[0].data["run_id"]
                    c = await api.post(f"/conversation/runs/{run_id}/cancel", headers=headers)
                    assert c.status_code == 202
        assert seen[-1].event == "cancelled"
        assert len([e for e in seen if e.event == "token"]) < 50
        partial = streamed_text(seen)
        events = await stream_turn(api, headers, sid, "after cancel")
        assert events[-1].event == "done"
        # The cancelled turn stays with its partial answer, marked interrupted, in
        # history and in what the model is given.
        assert "I have seen 2 user messages" in events[-1].data["message"]["content"]
        r = await api.get(f"/conversation/session/{sid}/history", headers=headers)
        messages = r.json()["messages"]
        assert [(m["role"], m["content"], m["status"]) for m in messages[:2]] == [
            ("user", "long [mock:tps=10] [mock:tokens=200]", "complete"),
            ("assistant", partial, "interrupted"),
        ]
        assert partial.startswith("tok0 tok1 ")
        sent = (await requests_ending_with(mockllm, "after cancel"))[-1]["messages"]
        assert sent[1] == {"role": "assistant", "content": partial}


async def test_reconnect_with_last_event_id_resumes_exactly_once(
    stack: Stack, headers: dict[str, str]
) -> None:
    message = "resume me [mock:tps=40] [mock:tokens=30]"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        before: list[SseEvent] = []
        async with api.stream(
            "POST", "/conversation", json={"message": message, "session_id": sid}, headers=headers
        ) as r:
            async for event in read_sse(r):
                before.append(event)
                if len(before) == 5:
                    break  # the client drops the connection mid-reply
        run_id = before[0].data["run_id"]
        async with api.stream(
            "GET",
            f"/conversation/runs/{run_id}/events",
            headers={**headers, "Last-Event-ID": str(before[-1].id)},
        ) as r:
            assert r.status_code == 200
            after = await collect_sse(r)
        events = stored(before + after)
        assert [e.id for e in events] == list(range(1, len(events) + 1))
        assert events[-1].event == "done"
        text = "".join(e.data["text"] for e in events if e.event == "token")
        assert text == events[-1].data["message"]["content"]
        assert text == reply_for([{"role": "user", "content": message}])

        # A replay from the start gives the same events again, and another user gets 404.
        async with api.stream("GET", f"/conversation/runs/{run_id}/events", headers=headers) as r:
            assert [(e.id, e.event) for e in await collect_sse(r)] == [
                (e.id, e.event) for e in events
            ]
        for odd in ("²", "9" * 5000, "-1", "abc"):  # not an event number: replay it all
            async with api.stream(
                "GET",
                f"/conversation/runs/{run_id}/events",
                headers={
                    **{k.encode(): v.encode() for k, v in headers.items()},
                    b"Last-Event-ID": odd.encode(),
                },
            ) as r:
                assert r.status_code == 200
                assert len(await collect_sse(r)) == len(events)
        creds = {"email": "other-resume@example.com", "password": "long enough, truly"}
        await api.post("/auth/register", json={"name": "O", **creds})
        other = (await api.post("/auth/login", json=creds)).json()["access_token"]
        r = await api.get(
            f"/conversation/runs/{run_id}/events", headers={"Authorization": f"Bearer {other}"}
        )
        assert r.status_code == 404


async def test_run_survives_its_worker_being_killed(stack: Stack, headers: dict[str, str]) -> None:
    message = "survive [mock:tps=10] [mock:tokens=30]"
    worker = stack.procs["worker"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as api:
        sid = await new_session(api, headers)
        events: list[SseEvent] = []
        async with api.stream(
            "POST", "/conversation", json={"message": message, "session_id": sid}, headers=headers
        ) as r:
            async for event in read_sse(r):
                events.append(event)
                if event.event == "token" and sum(e.event == "token" for e in events) == 3:
                    worker.stop(sig=signal.SIGKILL)  # crash mid-reply, no goodbye
                    worker.start()  # a fresh worker; JetStream redelivers the job to it
        kinds = [e.event for e in events]
        assert "reset" in kinds, kinds
        assert kinds[-1] == "done"
        run = stored(events)
        assert [e.id for e in run] == list(range(1, len(run) + 1)), "seq never repeats"
        after_reset = events[kinds.index("reset") + 1 :]
        text = "".join(e.data["text"] for e in after_reset if e.event == "token")
        expected = reply_for([{"role": "user", "content": message}])
        assert text == expected == events[-1].data["message"]["content"]

        r = await api.get(f"/conversation/session/{sid}/history", headers=headers)
        assert [(m["role"], m["content"]) for m in r.json()["messages"]] == [
            ("user", message),
            ("assistant", expected),
        ], "the retried run neither duplicated the question nor lost the answer"


async def test_blocking_request_maps_a_model_failure_to_502(
    stack: Stack, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        r = await api.post(
            "/conversation",
            json={"message": "fail [mock:fail=500]", "stream": False},
            headers=headers,
        )
    assert r.status_code == 502, r.text
    assert r.json()["error"]["code"] == "model_error"


async def test_worker_shutdown_hands_the_run_to_another_worker(
    stack: Stack, headers: dict[str, str]
) -> None:
    """A rolling deploy (SIGTERM) must not end replies as "cancelled by the user"."""
    message = "handover [mock:tps=10] [mock:tokens=60]"
    worker = stack.procs["worker"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90) as api:
        sid = await new_session(api, headers)
        events: list[SseEvent] = []
        async with api.stream(
            "POST", "/conversation", json={"message": message, "session_id": sid}, headers=headers
        ) as r:
            async for event in read_sse(r):
                events.append(event)
                if event.event == "token" and sum(e.event == "token" for e in events) == 3:
                    worker.stop(sig=signal.SIGTERM, timeout_s=30)
                    worker.start()
        kinds = [e.event for e in events]
        assert "cancelled" not in kinds and kinds[-1] == "done", kinds
        assert "reset" in kinds
        run = stored(events)
        assert [e.id for e in run] == list(range(1, len(run) + 1))
        expected = reply_for([{"role": "user", "content": message}])
        assert events[-1].data["message"]["content"] == expected


async def test_cancel_sent_as_soon_as_the_run_id_is_known(
    stack: Stack, headers: dict[str, str]
) -> None:
    """The UI sends Stop the moment `metadata` names the run: that cancel must not be lost."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        seen: list[SseEvent] = []
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "slow start [mock:ttft=3000]", "session_id": sid},
            headers=headers,
        ) as r:
            async for event in read_sse(r):
                seen.append(event)
                if event.event == "metadata":
                    c = await api.post(
                        f"/conversation/runs/{event.data['run_id']}/cancel", headers=headers
                    )
                    assert c.status_code == 202
        assert [e.event for e in seen] == ["queued", "metadata", "cancelled"]


async def test_cancel_of_a_queued_run_is_kept_until_a_worker_takes_it(
    stack: Stack, headers: dict[str, str]
) -> None:
    import asyncio

    worker = stack.procs["worker"]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        worker.stop()  # no worker: the run waits in JetStream
        try:
            async with api.stream(
                "POST",
                "/conversation",
                json={"message": "queued", "session_id": sid},
                headers=headers,
            ) as r:
                assert r.status_code == 200
                # The client learns at once that its run waits for a worker.
                sse = read_sse(r)
                queued = await anext(sse)
                assert queued.event == "queued" and queued.id is None
                busy = await api.post(
                    "/conversation", json={"message": "again", "session_id": sid}, headers=headers
                )
                assert busy.status_code == 409
                run_id = busy.json()["error"]["run_id"]
                c = await api.post(f"/conversation/runs/{run_id}/cancel", headers=headers)
                assert c.status_code == 202
                worker.start()
                events = await asyncio.wait_for(rest_of(sse), 60)
        finally:
            if not worker.alive:
                worker.start()
        assert [(e.id, e.event) for e in events] == [(1, "metadata"), (2, "cancelled")]
        assert events[0].data["run_id"] == run_id == queued.data["run_id"]
        # The conversation is free again.
        assert (await stream_turn(api, headers, sid, "next"))[-1].event == "done"


async def rest_of(sse: AsyncIterator[SseEvent]) -> list[SseEvent]:
    return [event async for event in sse]


async def test_a_run_that_loses_its_conversation_stops_and_keeps_what_it_had(
    stack: Stack, headers: dict[str, str]
) -> None:
    """Another run has taken the conversation's lock (ours expired, e.g. while NATS was
    away): the run stops at its next renewal instead of writing beside the other one."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as api:
        sid = await new_session(api, headers)
        seen: list[SseEvent] = []
        async with api.stream(
            "POST",
            "/conversation",
            json={"message": "long [mock:tps=10] [mock:tokens=300]", "session_id": sid},
            headers=headers,
        ) as r:
            async for event in read_sse(r):
                seen.append(event)
                if event.event == "token" and sum(e.event == "token" for e in seen) == 1:
                    nc = await nats.connect(
                        stack.env["NATS_URL"], **stack.nats_identity().connect_options()
                    )
                    try:
                        kv = await nc.jetstream().key_value(subjects.ACTIVE_RUNS_BUCKET)
                        await kv.put(sid, b"another-run")
                    finally:
                        await nc.close()
        assert seen[-1].event == "error", [e.event for e in seen[-3:]]
        assert seen[-1].data["code"] == "run_lock_lost"
        assert sum(e.event == "token" for e in seen) < 100  # stopped well before its end
        r = await api.get(f"/conversation/session/{sid}/history", headers=headers)
        messages = r.json()["messages"]
        assert [(m["role"], m["status"]) for m in messages] == [
            ("user", "complete"),
            ("assistant", "interrupted"),
        ]
        assert messages[1]["content"] == streamed_text(seen)
