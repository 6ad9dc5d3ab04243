"""Run events and run locks on a real JetStream."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from nats.aio.client import Client as NATS

from llmsvc.agent_worker.events import RunEventPublisher, last_event
from llmsvc.agent_worker.run_outcomes import RunFenced
from llmsvc.common import subjects
from llmsvc.common.contracts.agent import RunEvent
from llmsvc.common.ids import new_id
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.streams import RUN_EVENTS_MAX_CONSUMERS, agent_events_stream, ensure_stream

pytestmark = pytest.mark.integration


async def stored_events(nc: NATS, run_id: str) -> list[RunEvent]:
    js = nc.jetstream()
    sub = await js.subscribe(subjects.run_events(run_id), ordered_consumer=True)
    events = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            events.append(RunEvent.model_validate_json(msg.data))
    except Exception:
        pass
    await sub.unsubscribe()
    return events


async def test_tokens_coalesce_only_while_a_publish_is_in_flight(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_stream(js, agent_events_stream(3600))
    run_id = new_id()
    pub = RunEventPublisher(js, run_id=run_id, user_id="u")
    await pub.publish("metadata", {"run_id": run_id})
    words = [f"w{i} " for i in range(200)]
    for w in words:  # a burst: far faster than one publish round trip
        pub.token(w)
    await pub.publish("done", {"message": {"content": "".join(words)}})
    await pub.close()
    events = await stored_events(nc, run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "metadata" and events[-1].type == "done"
    tokens = [e for e in events if e.type == "token"]
    assert "".join(e.data["text"] for e in tokens) == "".join(words), "nothing lost or reordered"
    assert len(tokens) < len(words), "a burst shares events"
    last = await last_event(js, run_id)
    assert last is not None and last.event.terminal


async def test_slow_tokens_are_one_event_each(nc: NATS) -> None:
    js = nc.jetstream()
    await ensure_stream(js, agent_events_stream(3600))
    run_id = new_id()
    pub = RunEventPublisher(js, run_id=run_id, user_id="u")
    for w in ["a ", "b ", "c "]:
        pub.token(w)
        await asyncio.sleep(0.05)
    await pub.publish("done", {})
    await pub.close()
    assert [e.data.get("text") for e in await stored_events(nc, run_id)] == ["a ", "b ", "c ", None]


async def test_one_active_run_per_conversation(nc: NATS) -> None:
    locks = await RunLocks.open(nc.jetstream(), ttl_s=10)
    session = new_id()
    results = await asyncio.gather(*(locks.acquire(session, f"run{i}") for i in range(10)))
    winners = [f"run{i}" for i, holder in enumerate(results) if holder is None]
    assert len(winners) == 1
    assert {h for h in results if h is not None} == set(winners), "losers learn the winner"
    assert await locks.renew(session, winners[0])
    assert not await locks.renew(session, "someone-else")
    await locks.release(session, "someone-else")
    assert await locks.holder(session) == winners[0], "only the holder releases"
    await locks.release(session, winners[0])
    assert await locks.acquire(session, "next") is None


async def test_a_presumed_dead_worker_is_fenced_off_its_run(nc: NATS) -> None:
    """Two workers with the same run (one missed its heartbeats): the first to write
    after the takeover point wins, the other stops instead of interleaving its reply."""
    js = nc.jetstream()
    await ensure_stream(js, agent_events_stream(3600))
    run_id = new_id()
    first = RunEventPublisher(js, run_id=run_id, user_id="u")
    await first.publish("metadata", {"run_id": run_id})
    await first.publish("token", {"text": "a "})
    takeover_point = await last_event(js, run_id)
    second = RunEventPublisher(js, run_id=run_id, user_id="u", after=takeover_point)
    await second.publish("reset", {"reason": "run restarted"})
    with pytest.raises(RunFenced):
        await first.publish("token", {"text": "zombie "})
    first.token("more zombie ")
    await first.close()
    assert first.fenced
    await second.publish("done", {})
    events = await stored_events(nc, run_id)
    assert [(e.seq, e.type) for e in events] == [
        (1, "metadata"),
        (2, "token"),
        (3, "reset"),
        (4, "done"),
    ]
    # Two workers racing on a brand-new run: their identical first events are one event,
    # and the first to write anything else wins.
    run2 = new_id()
    a = RunEventPublisher(js, run_id=run2, user_id="u")
    b = RunEventPublisher(js, run_id=run2, user_id="u")
    await a.publish("metadata", {})
    await b.publish("metadata", {})
    await a.publish("token", {"text": "a "})
    with pytest.raises(RunFenced):
        await b.publish("token", {"text": "b "})


async def test_retrying_a_publish_that_was_stored_is_not_mistaken_for_a_takeover(
    nc: NATS,
) -> None:
    js = nc.jetstream()
    await ensure_stream(js, agent_events_stream(3600))
    run_id = new_id()
    pub = RunEventPublisher(js, run_id=run_id, user_id="u")
    await pub.publish("metadata", {})
    # Simulate a lost ack: the event is stored, but the publisher believes it is not.
    stale_expectation = pub._expected_stream_seq
    await pub.publish("token", {"text": "x "})
    pub._expected_stream_seq = stale_expectation
    pub._seq -= 1
    await pub.publish("token", {"text": "x "})  # the retry: same seq, same content
    assert not pub.fenced
    await pub.publish("done", {})
    assert [(e.seq, e.type) for e in await stored_events(nc, run_id)] == [
        (1, "metadata"),
        (2, "token"),
        (3, "done"),
    ]


async def test_run_events_stream_takes_more_open_streams_than_the_servers_default(
    nc: NATS,
) -> None:
    """nats-server 2.15 caps a stream at 1,000 consumers unless it sets its own limit:
    the 1,001st client following a run would be refused. An events stream made by an
    earlier version (no limit of its own) is brought in line."""
    js = nc.jetstream()
    old = agent_events_stream(3600)
    old.max_consumers = None
    with contextlib.suppress(Exception):
        await js.delete_stream(subjects.AGENT_EVENTS_STREAM)
    await js.add_stream(old)
    await ensure_stream(js, agent_events_stream(3600))
    info = await js.stream_info(subjects.AGENT_EVENTS_STREAM)
    assert info.config.max_consumers == RUN_EVENTS_MAX_CONSUMERS
    subs = []
    try:
        for batch in range(11):
            subs += await asyncio.gather(
                *(
                    js.subscribe(subjects.run_events(f"r{batch}-{i}"), ordered_consumer=True)
                    for i in range(100)
                )
            )
        assert len(subs) == 1100
    finally:
        await asyncio.gather(*(s.unsubscribe() for s in subs), return_exceptions=True)
