"""The worker's message store on the real Mongo-compatible server: history pages, the
model's context budget, retried runs and the move of old-style checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.base import empty_checkpoint
from pymongo import AsyncMongoClient, MongoClient

from llmsvc.agent_worker.checkpoint_migration import migrate_checkpoint_messages
from llmsvc.agent_worker.checkpointer import PruningMongoDBSaver
from llmsvc.agent_worker.message_store import ContextBudget, MessageStore, TurnMemory
from llmsvc.common.contracts.agent import HistoryRequest
from llmsvc.common.errors import BadRequest, NotFound
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(
    mongo_client: AsyncMongoClient[dict[str, Any]], db_prefix: str
) -> AsyncIterator[MessageStore]:
    s = MessageStore(mongo_client[f"{db_prefix}_agent"])
    await s.ensure_indexes()
    yield s
    await mongo_client.drop_database(f"{db_prefix}_agent")


def exchange(i: int, *, words: int = 1) -> list[BaseMessage]:
    return [
        HumanMessage(f"question {i} " + "q " * words, id=f"h{i}"),
        AIMessage(f"answer {i} " + "a " * words, id=f"a{i}"),
    ]


async def grow(store: MessageStore, thread: str, turns: int, *, words: int = 1) -> None:
    for i in range(turns):
        await store.append(thread, exchange(i, words=words))


async def test_history_pages_walk_back_exactly_once(store: MessageStore) -> None:
    await grow(store, "t1", 13)  # 26 messages
    await grow(store, "other", 2)
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        page = await store.page(HistoryRequest(thread_id="t1", limit=5, before=before))
        pages += 1
        seen = [m.id for m in page.messages] + seen
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.messages[0].id
        before = page.next_cursor
    expected = [m.id for i in range(13) for m in exchange(i)]
    assert seen == expected and pages == 6
    newest = await store.page(HistoryRequest(thread_id="t1", limit=2))
    assert [(m.role, m.content) for m in newest.messages] == [
        ("user", "question 12 q "),
        ("assistant", "answer 12 a "),
    ]


async def test_tool_steps_are_history_in_their_order(store: MessageStore) -> None:
    turn: list[BaseMessage] = [
        HumanMessage("what time is it", id="h"),
        AIMessage("", id="call", tool_calls=[{"name": "now", "args": {}, "id": "c1"}]),
        ToolMessage("12:00", tool_call_id="c1", id="tool"),
        AIMessage("noon", id="a"),
    ]
    await store.append("t", turn)
    page = await store.page(HistoryRequest(thread_id="t", limit=10))
    assert [m.id for m in page.messages] == ["h", "call", "tool", "a"]
    assert [m.role for m in page.messages] == ["user", "assistant", "tool", "assistant"]
    assert page.messages[2].tool_call_id == "c1"


async def test_unknown_cursor_is_a_bad_request(store: MessageStore) -> None:
    await grow(store, "t", 1)
    await grow(store, "other", 1)
    with pytest.raises(BadRequest) as err:
        await store.page(HistoryRequest(thread_id="t", before="nope"))
    assert err.value.error_code == "invalid_cursor"
    # A message of another conversation is not a cursor of this one.
    with pytest.raises(BadRequest):
        await store.page(HistoryRequest(thread_id="t", before="h0x"))


async def test_a_retried_turn_replaces_its_reply_in_place(store: MessageStore) -> None:
    await grow(store, "t", 2)
    memory = TurnMemory(store, "t", ContextBudget(10_000, 100), own_ids=("h2", "a2"))
    first_context = await memory.earlier()
    await memory.remember([HumanMessage("q2", id="h2"), AIMessage("partial", id="a2")])
    # The same run again (its worker died after storing): it must not see its own
    # messages as earlier turns, and its new reply takes the old one's place.
    retry = TurnMemory(store, "t", ContextBudget(10_000, 100), own_ids=("h2", "a2"))
    assert [m.id for m in await retry.earlier()] == [m.id for m in first_context]
    await retry.remember([HumanMessage("q2", id="h2"), AIMessage("complete", id="a2")])
    page = await store.page(HistoryRequest(thread_id="t", limit=50))
    assert [m.id for m in page.messages] == ["h0", "a0", "h1", "a1", "h2", "a2"]
    assert page.messages[-1].content == "complete"


async def test_context_keeps_the_newest_turns_within_the_budget(store: MessageStore) -> None:
    await grow(store, "t", 40, words=50)  # each message ~ 25+ tokens
    memory = TurnMemory(store, "t", ContextBudget(max_tokens=300, max_messages=200))
    context = await memory.earlier()
    ids = [m.id for m in context]
    assert 2 <= len(ids) < 20, ids
    assert ids[-1] == "a39", "the newest turn is always there"
    assert isinstance(context[0], HumanMessage), "never a reply without its question"
    assert ids == [m.id for i in range(40) for m in exchange(i)][-len(ids) :]
    few = await TurnMemory(store, "t", ContextBudget(10**6, max_messages=5)).earlier()
    assert [m.id for m in few] == ["h38", "a38", "h39", "a39"]


async def test_old_style_checkpoints_are_moved_once(
    infra: Infra, mongo_client: AsyncMongoClient[dict[str, Any]], db_prefix: str
) -> None:
    db_name = f"{db_prefix}_agent"
    sync: MongoClient[dict[str, Any]] = MongoClient(infra.mongo_uri)
    try:
        saver = await asyncio.to_thread(PruningMongoDBSaver, sync, db_name=db_name)
        checkpoint = empty_checkpoint()
        old = [m for i in range(3) for m in exchange(i)]
        checkpoint["channel_values"] = {"messages": old}
        config = {"configurable": {"thread_id": "legacy", "checkpoint_ns": ""}}
        await asyncio.to_thread(saver.put, config, checkpoint, {}, {})  # type: ignore[arg-type]
        db = mongo_client[db_name]
        store = MessageStore(db)
        await store.ensure_indexes()
        assert await migrate_checkpoint_messages(db, saver, store) == 1
        page = await store.page(HistoryRequest(thread_id="legacy", limit=50))
        assert [m.id for m in page.messages] == [m.id for m in old]
        assert [m.content for m in page.messages] == [m.text for m in old]
        # Once done, later starts skip it.
        assert await migrate_checkpoint_messages(db, saver, store) == 0
        await store.delete_thread("legacy")
        assert not await store.has_thread("legacy")
    finally:
        sync.close()
        await mongo_client.drop_database(db_name)


async def test_history_is_answered_only_to_the_conversations_owner(store: MessageStore) -> None:
    memory = TurnMemory(store, "owned", ContextBudget(10_000, 100), owner="alice")
    await memory.remember([HumanMessage("mine", id="h1"), AIMessage("yes", id="a1")])
    page = await store.page(HistoryRequest(thread_id="owned", user_id="alice"))
    assert [m.id for m in page.messages] == ["h1", "a1"]
    for bad in (
        HistoryRequest(thread_id="owned", user_id="mallory"),
        HistoryRequest(thread_id="owned", user_id="mallory", before="a1"),
    ):
        with pytest.raises(NotFound) as caught:
            await store.page(bad)
        assert caught.value.error_code == "session_not_found"
