"""One-off move of conversations stored by earlier versions into the message store.

Earlier versions kept a conversation's whole message list in its latest LangGraph
checkpoint. At start-up a worker copies each such conversation's messages into the
message store once, in order, unless the store already has the conversation; a marker
document in `migrations` records that it was done, so later starts skip it. Copies are
idempotent (messages keep their ids), so two workers starting together do no harm.

Stop workers of the earlier version before starting this one: a turn they run after
the copy is kept in their checkpoint only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import BaseMessage
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from llmsvc.agent_worker.checkpointer import PruningMongoDBSaver
from llmsvc.agent_worker.message_store import MessageStore
from llmsvc.common.ids import utcnow
from llmsvc.common.logging import get_logger

log = get_logger(__name__)

MIGRATION_ID = "messages_from_checkpoints"


def _checkpoint_threads(saver: PruningMongoDBSaver) -> list[str]:
    return [str(t) for t in saver.checkpoint_collection.distinct("thread_id")]


def _checkpoint_messages(saver: PruningMongoDBSaver, thread_id: str) -> list[BaseMessage]:
    found = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    if found is None:
        return []
    messages = found.checkpoint.get("channel_values", {}).get("messages", [])
    return [m for m in messages if isinstance(m, BaseMessage) and m.id is not None]


async def migrate_checkpoint_messages(
    db: AsyncDatabase[dict[str, Any]], saver: PruningMongoDBSaver, store: MessageStore
) -> int:
    """Copy old-style conversations into `store`; return how many were copied."""
    migrations = db["migrations"]
    if await migrations.find_one({"_id": MIGRATION_ID}) is not None:
        return 0
    copied = 0
    for thread_id in await asyncio.to_thread(_checkpoint_threads, saver):
        if await store.has_thread(thread_id):
            continue
        messages = await asyncio.to_thread(_checkpoint_messages, saver, thread_id)
        if not messages:
            continue
        try:
            await store.append(thread_id, messages)
        except (BulkWriteError, DuplicateKeyError):  # another worker copied it just now
            continue
        copied += 1
    try:
        await migrations.insert_one({"_id": MIGRATION_ID, "at": utcnow(), "threads": copied})
    except DuplicateKeyError:
        pass
    log.info("checkpoint_messages_migrated", threads=copied)
    return copied
