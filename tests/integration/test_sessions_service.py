"""The sessions service in-process, driven over real NATS (and JetStream), storing in a
real Mongo-compatible server: what the gateway (and so a user) sees."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from faststream import TestApp
from nats.aio.client import Client as NATS
from nats.js.api import DeliverPolicy
from pymongo import AsyncMongoClient

from llmsvc.common import subjects
from llmsvc.common.clients import SessionsClient
from llmsvc.common.contracts.sessions import (
    DEFAULT_SESSION_NAME,
    CreateSession,
    DeleteSession,
    GetSession,
    ListSessions,
    Session,
    SessionDeleted,
    SessionPage,
    SetAutoTitle,
    TouchSession,
    UpdateSession,
)
from llmsvc.common.envelope import Envelope
from llmsvc.common.errors import BadRequest, NotFound, Unavailable
from llmsvc.common.nats_client import request
from llmsvc.sessions.app import create_app
from llmsvc.sessions.flows import finish_unfinished_deletions
from llmsvc.sessions.repository import SessionRepository
from llmsvc.sessions.service import SessionService
from llmsvc.sessions.settings import SessionsSettings
from tests.support.infra import Infra
from tests.support.stack import wait_for_responders

pytestmark = pytest.mark.integration


Mongo = AsyncMongoClient[dict[str, Any]]
ALICE = "alice"
BOB = "bob"


@pytest.fixture
async def settings(infra: Infra, db_prefix: str) -> AsyncIterator[SessionsSettings]:
    settings = SessionsSettings(
        nats_url=infra.nats_url,
        nats_nkey_seed_file=infra.seed_file("sessions"),
        mongo_uri=infra.mongo_uri,
        mongo_db=db_prefix,
        environment="test",
    )
    async with TestApp(create_app(settings)):
        # The service subscribes on its own connection: make sure the server has its
        # subscriptions before a test's first request (else "no responders", rarely).
        await wait_for_responders(
            infra.nats_url, [subjects.SESSIONS_CREATE], identity=infra.nats_identity()
        )
        yield settings


async def create(nc: NATS, user_id: str = ALICE, name: str | None = None) -> Session:
    req = CreateSession(user_id=user_id, name=name)
    return await SessionsClient(nc).create(req)


async def get(nc: NATS, session_id: str, user_id: str = ALICE) -> Session:
    req = GetSession(user_id=user_id, session_id=session_id)
    return await SessionsClient(nc).get(req)


async def list_page(
    nc: NATS, user_id: str = ALICE, limit: int = 20, cursor: str | None = None
) -> SessionPage:
    req = ListSessions(user_id=user_id, limit=limit, cursor=cursor)
    return await SessionsClient(nc).list(req)


async def list_ids(nc: NATS, user_id: str = ALICE) -> list[str]:
    return [s.session_id for s in (await list_page(nc, user_id, limit=100)).sessions]


async def raw_request(nc: NATS, subject: str, payload: bytes) -> Envelope:
    msg = await nc.request(subject, payload, timeout=10)
    return Envelope.model_validate_json(msg.data)


async def test_create_and_get(settings: SessionsSettings, nc: NATS, mongo_client: Mongo) -> None:
    default = await create(nc)
    assert default.name == DEFAULT_SESSION_NAME
    assert default.user_id == ALICE
    assert default.thread_id != default.session_id
    assert default.created_at == default.updated_at

    named = await create(nc, name="  Trip to Lisbon ")
    assert named.name == "Trip to Lisbon"
    assert await get(nc, named.session_id) == named
    assert await get(nc, default.session_id) == default

    doc = await mongo_client[settings.database]["sessions"].find_one({"_id": named.session_id})
    assert doc is not None
    assert doc["thread_id"] == named.thread_id
    assert doc["user_id"] == ALICE


async def test_another_users_session_is_not_found_like_a_missing_one(
    settings: SessionsSettings, nc: NATS
) -> None:
    session = await create(nc, ALICE)
    errors = []
    for session_id, user_id in ((session.session_id, BOB), ("no-such-session", ALICE)):
        with pytest.raises(NotFound) as caught:
            await get(nc, session_id, user_id)
        errors.append((caught.value.error_code, caught.value.message, caught.value.status))
    assert errors[0] == errors[1]
    assert errors[0][0] == "session_not_found"

    for subject, req in (
        (
            subjects.SESSIONS_UPDATE,
            UpdateSession(user_id=BOB, session_id=session.session_id, name="x"),
        ),
        (subjects.SESSIONS_TOUCH, TouchSession(user_id=BOB, session_id=session.session_id)),
        (subjects.SESSIONS_DELETE, DeleteSession(user_id=BOB, session_id=session.session_id)),
    ):
        with pytest.raises(NotFound) as caught:
            await request(nc, subject, req)
        assert caught.value.error_code == "session_not_found"
    assert await get(nc, session.session_id) == session
    assert await list_ids(nc, BOB) == []


async def test_list_pages_newest_first_and_sees_each_once(
    settings: SessionsSettings, nc: NATS
) -> None:
    created = []
    for i in range(5):
        created.append(await create(nc, name=f"chat {i}"))
        # Activity is kept to the millisecond: keep the creation order unambiguous.
        await asyncio.sleep(0.005)
    await create(nc, BOB)

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await list_page(nc, limit=2, cursor=cursor)
        pages.append([s.session_id for s in page.sessions])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [sid for p in pages for sid in p]
    assert seen == [s.session_id for s in reversed(created)]

    exact = await list_page(nc, limit=5)
    assert len(exact.sessions) == 5
    assert exact.next_cursor is None


async def test_search_finds_names_with_every_word_in_any_case_and_only_ones_own(
    settings: SessionsSettings, nc: NATS
) -> None:
    trip = await create(nc, name="Trip to Lisbon in May")
    await create(nc, name="Lisbon restaurants")
    await create(nc, name="Tax return")
    await create(nc, BOB, name="Bob's trip to Lisbon")
    # Regex characters are text to find: this matches nothing rather than everything.
    await create(nc, name="a.b")

    async def search(query: str, user_id: str = ALICE) -> list[str]:
        req = ListSessions(user_id=user_id, query=query)
        return [s.name for s in (await SessionsClient(nc).list(req)).sessions]

    assert await search("lisbon") == ["Lisbon restaurants", "Trip to Lisbon in May"]
    assert await search("  TRIP   lisbon ") == [trip.name]
    assert await search("may trip") == [trip.name]
    assert await search("a.b") == ["a.b"]
    assert await search(".*") == []
    assert await search("Tax") == ["Tax return"]
    assert await search("lisbon", BOB) == ["Bob's trip to Lisbon"]
    assert len(await search("")) == 4


async def test_touch_and_rename_move_a_session_to_the_top(
    settings: SessionsSettings, nc: NATS
) -> None:
    a = await create(nc, name="a")
    await asyncio.sleep(0.005)
    b = await create(nc, name="b")
    await asyncio.sleep(0.005)
    c = await create(nc, name="c")
    await asyncio.sleep(0.005)
    assert await list_ids(nc) == [c.session_id, b.session_id, a.session_id]

    touched = await SessionsClient(nc).touch(TouchSession(user_id=ALICE, session_id=a.session_id))
    assert touched.updated_at > a.updated_at
    assert touched.name == "a"
    assert await list_ids(nc) == [a.session_id, c.session_id, b.session_id]
    await asyncio.sleep(0.005)

    renamed = await SessionsClient(nc).update(
        UpdateSession(user_id=ALICE, session_id=b.session_id, name=" Lisbon plans ")
    )
    assert renamed.name == "Lisbon plans" and renamed.title_source == "user"
    assert renamed.updated_at > b.updated_at
    assert renamed.created_at == b.created_at
    assert await get(nc, b.session_id) == renamed
    assert await list_ids(nc) == [b.session_id, a.session_id, c.session_id]


async def test_delete_removes_and_announces_on_jetstream(
    settings: SessionsSettings, nc: NATS, mongo_client: Mongo
) -> None:
    keep = await create(nc)
    gone = await create(nc)
    js = nc.jetstream()
    sub = await js.subscribe(
        subjects.SESSIONS_DELETED, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    try:
        reply = await request(
            nc, subjects.SESSIONS_DELETE, DeleteSession(user_id=ALICE, session_id=gone.session_id)
        )
        assert reply == {"deleted": True}

        msg = await sub.next_msg(timeout=5)
        event = SessionDeleted.model_validate_json(msg.data)
        assert event == SessionDeleted(
            session_id=gone.session_id, thread_id=gone.thread_id, user_id=ALICE
        )
        assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == gone.session_id
        assert msg.metadata.stream == subjects.SESSIONS_EVENTS_STREAM
    finally:
        await sub.unsubscribe()

    with pytest.raises(NotFound):
        await get(nc, gone.session_id)
    with pytest.raises(NotFound):
        await request(
            nc, subjects.SESSIONS_DELETE, DeleteSession(user_id=ALICE, session_id=gone.session_id)
        )
    assert await list_ids(nc) == [keep.session_id]
    assert await mongo_client[settings.database]["sessions"].count_documents({}) == 1


class FlakyAnnouncer:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.events: list[SessionDeleted] = []

    async def announce(self, event: SessionDeleted) -> None:
        if self.failures:
            self.failures -= 1
            raise Unavailable("JetStream is down")
        self.events.append(event)


async def test_a_failed_announcement_is_completed_later(
    db_prefix: str, mongo_client: Mongo
) -> None:
    sessions = SessionRepository(mongo_client[f"{db_prefix}_sessions"]["sessions"])
    await sessions.setup()
    announcer = FlakyAnnouncer(failures=2)
    service = SessionService(sessions=sessions, announcer=announcer)
    first = await service.create(CreateSession(user_id=ALICE))
    second = await service.create(CreateSession(user_id=ALICE))

    for session in (first, second):
        with pytest.raises(Unavailable):
            await service.delete(DeleteSession(user_id=ALICE, session_id=session.session_id))
        # Hidden from its owner at once, but kept until the deletion is announced.
        with pytest.raises(NotFound):
            await service.get(GetSession(user_id=ALICE, session_id=session.session_id))
    assert await sessions.page(user_id=ALICE, limit=10, after=None) == []

    # The user retries one; a sweep finishes the other.
    assert await service.delete(DeleteSession(user_id=ALICE, session_id=first.session_id)) == {
        "deleted": True
    }
    assert (
        await finish_unfinished_deletions(
            sessions=sessions, announcer=announcer, older_than=timedelta(0)
        )
        == 1
    )
    assert {e.session_id for e in announcer.events} == {first.session_id, second.session_id}
    assert await mongo_client[f"{db_prefix}_sessions"]["sessions"].count_documents({}) == 0


async def test_malformed_cursor_is_a_bad_request(settings: SessionsSettings, nc: NATS) -> None:
    await create(nc)
    for cursor in ("garbage", "eyJub3QiOiJvdXJzIn0"):
        with pytest.raises(BadRequest) as caught:
            await list_page(nc, cursor=cursor)
        assert caught.value.error_code == "invalid_cursor"
        assert caught.value.status == 400


@pytest.mark.parametrize(
    ("subject", "payload", "bad_field"),
    [
        (subjects.SESSIONS_CREATE, b"{not json", None),
        (subjects.SESSIONS_CREATE, b"", None),
        (subjects.SESSIONS_CREATE, b'"a string"', None),
        (subjects.SESSIONS_CREATE, b"{}", "user_id"),
        (subjects.SESSIONS_CREATE, b'{"user_id": "u", "name": "   "}', "name"),
        (subjects.SESSIONS_CREATE, b'{"user_id": "u", "name": "' + b"x" * 201 + b'"}', "name"),
        (subjects.SESSIONS_GET, b'{"user_id": "u"}', "session_id"),
        (subjects.SESSIONS_LIST, b'{"user_id": "u", "limit": 0}', "limit"),
        (subjects.SESSIONS_LIST, b'{"user_id": "u", "limit": 101}', "limit"),
        (subjects.SESSIONS_UPDATE, b'{"user_id": "u", "session_id": "s", "name": ""}', "name"),
        (subjects.SESSIONS_UPDATE, b'{"user_id": "u", "session_id": "s"}', None),
        (
            subjects.SESSIONS_UPDATE,
            b'{"user_id": "u", "session_id": "s", "instructions": "' + b"x" * 4001 + b'"}',
            "instructions",
        ),
        (subjects.SESSIONS_TITLE, b'{"user_id": "u", "session_id": "s", "title": ""}', "title"),
        (subjects.SESSIONS_DELETE, b'{"session_id": "s"}', "user_id"),
        (subjects.SESSIONS_TOUCH, b'{"user_id": ["u"], "session_id": "s"}', "user_id"),
    ],
)
async def test_bad_input_gets_a_422_envelope(
    settings: SessionsSettings, nc: NATS, subject: str, payload: bytes, bad_field: str | None
) -> None:
    reply = await raw_request(nc, subject, payload)
    assert reply.ok is False
    assert reply.error is not None
    assert reply.error.status == 422
    assert reply.error.code == "validation_error"
    if bad_field is not None:
        fields = (reply.error.model_extra or {})["fields"]
        assert [bad_field] in [f["loc"] for f in fields]


async def test_index_is_created_at_start_up(
    settings: SessionsSettings, mongo_client: Mongo
) -> None:
    indexes = await mongo_client[settings.database]["sessions"].index_information()
    assert indexes["user_recent"]["key"] == [("user_id", 1), ("updated_at", -1), ("_id", -1)]


async def test_the_automatic_title_never_replaces_a_name_the_user_chose(
    settings: SessionsSettings, nc: NATS
) -> None:
    unnamed = await create(nc, ALICE)
    assert unnamed.title_source == "default"
    titled = await request(
        nc,
        subjects.SESSIONS_TITLE,
        SetAutoTitle(user_id=ALICE, session_id=unnamed.session_id, title="Trip to Lisbon"),
    )
    assert (titled["name"], titled["title_source"]) == ("Trip to Lisbon", "auto")
    # Another user's session is not titled.
    other = await SessionsClient(nc).set_auto_title(
        SetAutoTitle(user_id=BOB, session_id=unnamed.session_id, title="Mine now")
    )
    assert other is None
    await SessionsClient(nc).update(
        UpdateSession(user_id=ALICE, session_id=unnamed.session_id, name="Porto")
    )
    late = await SessionsClient(nc).set_auto_title(
        SetAutoTitle(user_id=ALICE, session_id=unnamed.session_id, title="Something else")
    )
    assert late is None
    assert (await get(nc, unnamed.session_id)).name == "Porto"
