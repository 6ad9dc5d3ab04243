"""The gateway's cache of checked sessions on a real NATS: a deletion heard from any
gateway drops the entry, another user never gets it, entries expire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from nats.aio.client import Client as NATS

from llmsvc.common import subjects
from llmsvc.common.contracts.sessions import Session, SessionDeleted, SessionUpdated
from llmsvc.common.ids import new_id
from llmsvc.gateway.session_cache import SessionCache
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def session(user_id: str) -> Session:
    now = datetime.now(UTC)
    return Session(
        session_id=new_id(),
        thread_id=new_id(),
        user_id=user_id,
        name="n",
        created_at=now,
        updated_at=now,
    )


async def test_only_the_owner_hits_and_a_deletion_event_drops_the_entry(nc: NATS) -> None:
    cache = SessionCache(nc)
    await cache.start()
    try:
        mine = session("alice")
        cache.put(mine)
        assert cache.get(user_id="alice", session_id=mine.session_id) == mine
        assert cache.get(user_id="mallory", session_id=mine.session_id) is None
        # As the sessions service announces it (to every gateway, on JetStream's subject).
        deleted = SessionDeleted(
            session_id=mine.session_id, thread_id=mine.thread_id, user_id="alice"
        )
        await nc.publish(subjects.SESSIONS_DELETED, deleted.model_dump_json().encode())
        await eventually(lambda: cache.get(user_id="alice", session_id=mine.session_id) is None)
    finally:
        await cache.stop()


async def test_entries_expire_and_the_oldest_go_first(nc: NATS) -> None:
    now = [0.0]
    cache = SessionCache(nc, max_entries=2, ttl_s=10, clock=lambda: now[0])
    a, b, c = session("u"), session("u"), session("u")
    for s in (a, b):
        cache.put(s)
    now[0] = 5
    assert cache.get(user_id="u", session_id=a.session_id) == a  # a is now the newest used
    cache.put(c)
    assert cache.get(user_id="u", session_id=b.session_id) is None
    now[0] = 14
    assert cache.get(user_id="u", session_id=a.session_id) is None
    assert cache.get(user_id="u", session_id=c.session_id) == c


async def test_an_update_heard_from_the_sessions_service_replaces_a_held_entry(nc: NATS) -> None:
    cache = SessionCache(nc)
    await cache.start()
    try:
        mine, other, unseen = session("alice"), session("alice"), session("alice")
        cache.put(mine)
        cache.put(other)
        for changed in (
            mine.model_copy(update={"model": "mock-large", "instructions": "Be brief."}),
            unseen.model_copy(update={"model": "mock-large"}),
            # A forged update moving the session to another user is ignored.
            mine.model_copy(update={"user_id": "mallory", "name": "stolen"}),
            # Heard last (one connection keeps the order): once it shows, all were heard.
            other.model_copy(update={"name": "sentinel"}),
        ):
            update = SessionUpdated(session=changed)
            await nc.publish(subjects.SESSIONS_UPDATED, update.model_dump_json().encode())

        def heard_all() -> bool:
            got = cache.get(user_id="alice", session_id=other.session_id)
            return got is not None and got.name == "sentinel"

        await eventually(heard_all)
        held = cache.get(user_id="alice", session_id=mine.session_id)
        assert held is not None
        assert (held.model, held.instructions, held.name) == ("mock-large", "Be brief.", "n")
        assert cache.get(user_id="mallory", session_id=mine.session_id) is None
        # Sessions this gateway never held stay out of it.
        assert cache.get(user_id="alice", session_id=unseen.session_id) is None
    finally:
        await cache.stop()
