"""A conversation's messages, each stored once: its history and the model's context.

One document per message in the agent database's `messages` collection:

    {thread_id, id, seq, offset, role, tokens, message}

`message` is langchain-core's serialised form (`message_to_dict`); `seq` orders a
thread's messages (1, 2, …; a retried run's messages keep theirs, so there may be gaps);
`role` is the history role (`user`, `assistant`, `system`, `tool`); `tokens` is
langchain-core's approximate size of the message for the model and `offset` the tokens of
the thread's messages before it. `threads` holds one counter per conversation,
`{_id: thread_id, last_seq, tokens}`, from which appends take their `seq` and `offset`.

A turn writes its own messages and nothing else, so its cost does not grow with the
conversation; the LangGraph checkpoint holds only the turn being worked on. Every read
is bounded by an index range, never "all of the thread, sorted, first N" (which the
Mongo-compatible server used in development answers by sorting the whole thread in
memory): history pages ask for windows of `seq`, the model's context for the messages
whose `offset` is within the token budget of the thread's total. Indexes:
`(thread_id, id)` unique, so a retried run replaces its reply instead of adding one;
`(thread_id, seq)` for history; `(thread_id, offset)` for the context.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.messages.utils import count_tokens_approximately
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from llmsvc.agent_worker.history import VISIBLE_ROLES, role_of, to_history_message
from llmsvc.common.contracts.agent import HistoryPage, HistoryRequest
from llmsvc.common.errors import BadRequest, NotFound

Doc = dict[str, Any]

DUPLICATE_KEY = 11000


class MessageStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._messages: AsyncCollection[Doc] = db["messages"]
        self._threads: AsyncCollection[Doc] = db["threads"]

    async def ensure_indexes(self) -> None:
        await self._messages.create_index(
            [("thread_id", ASCENDING), ("id", ASCENDING)], unique=True, name="thread_message"
        )
        await self._messages.create_index(
            [("thread_id", ASCENDING), ("seq", DESCENDING)], name="thread_seq"
        )
        await self._messages.create_index(
            [("thread_id", ASCENDING), ("offset", ASCENDING)], name="thread_offset"
        )

    async def append(
        self,
        thread_id: str,
        messages: Sequence[BaseMessage],
        *,
        counter: tuple[int, int] | None = None,
        owner: str | None = None,
    ) -> None:
        """Store `messages` in this order after the thread's others. A message stored
        before (same id, e.g. by an earlier attempt of the same run) keeps its place and
        takes the new content.

        `counter` is the thread's (last seq, tokens) as read by `recent` when only this
        caller appends to the thread (a run holds the conversation's lock): the messages
        and the counter are then written at once instead of one after the other."""
        if not messages:
            return
        if any(m.id is None for m in messages):
            raise ValueError("a stored message needs an id")
        sizes = [count_tokens_approximately([m]) for m in messages]
        grow: Doc = {"$inc": {"last_seq": len(messages), "tokens": sum(sizes)}}
        if owner is not None:  # the conversation's owner, kept from its first message on
            grow["$setOnInsert"] = {"user_id": owner}
        if counter is None:
            doc = await self._threads.find_one_and_update(
                {"_id": thread_id}, grow, upsert=True, return_document=ReturnDocument.AFTER
            )
            if doc is None:  # not with upsert and ReturnDocument.AFTER
                raise RuntimeError(f"no message counter for thread {thread_id}")
            seq = int(doc["last_seq"]) - len(messages)
            offset = int(doc.get("tokens", 0)) - sum(sizes)
        else:
            seq, offset = counter
        docs = []
        for message, size in zip(messages, sizes, strict=True):
            seq += 1
            docs.append(
                {
                    "thread_id": thread_id,
                    "id": message.id,
                    "seq": seq,
                    "offset": offset,
                    "role": role_of(message),
                    "tokens": size,
                    "message": message_to_dict(message),
                }
            )
            offset += size
        writes = self._write(docs)
        if counter is None:
            await writes
        else:
            await asyncio.gather(
                writes, self._threads.update_one({"_id": thread_id}, grow, upsert=True)
            )

    async def _write(self, docs: list[Doc]) -> None:
        """Insert `docs`; if some are stored already (a retried run), upsert them all:
        those keep their place and take the new content."""
        try:
            await self._messages.insert_many(docs, ordered=True)
            return
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
        place = ("_id", "thread_id", "id", "seq", "offset")  # insert_many added _id
        await self._messages.bulk_write(
            [
                UpdateOne(
                    {"thread_id": d["thread_id"], "id": d["id"]},
                    {
                        "$set": {k: v for k, v in d.items() if k not in place},
                        "$setOnInsert": {"seq": d["seq"], "offset": d["offset"]},
                    },
                    upsert=True,
                )
                for d in docs
            ],
            ordered=True,
        )

    async def _counter(self, thread_id: str) -> tuple[int, int]:
        """The thread's last `seq` and the tokens of all its messages."""
        doc = await self._threads.find_one({"_id": thread_id})
        return (0, 0) if doc is None else (int(doc["last_seq"]), int(doc.get("tokens", 0)))

    async def last_seq(self, thread_id: str) -> int:
        return (await self._counter(thread_id))[0]

    async def has_thread(self, thread_id: str) -> bool:
        return await self.last_seq(thread_id) > 0

    async def _newest_first(
        self, thread_id: str, *, before_seq: int, width: int
    ) -> AsyncIterator[Doc]:
        """The thread's messages with `seq` < `before_seq`, newest first, read in windows
        of `seq` (the first `width` wide, then doubling) for as long as the caller wants
        more. A window query is bounded by the index on every server; "all of the thread,
        sorted, first N" is not on the development server, whose planner sorts the
        thread's documents in memory."""
        upper = before_seq
        while upper > 1:
            lower = max(1, upper - width)
            docs = await self._messages.find(
                {"thread_id": thread_id, "seq": {"$gte": lower, "$lt": upper}},
                projection={"_id": 0},
                sort=[("seq", DESCENDING)],
            ).to_list()
            for doc in docs:
                yield doc
            upper, width = lower, width * 2

    async def recent(
        self,
        thread_id: str,
        *,
        max_tokens: int,
        max_messages: int,
        exclude: Iterable[str] = (),
        exclude_prefixes: tuple[str, ...] = (),
    ) -> tuple[list[BaseMessage], tuple[int, int]]:
        """The newest messages of the thread that fit in `max_tokens` (at most
        `max_messages`), oldest first and starting with a user message, so no reply or
        tool result is sent without what it answers; and the thread's counter (last seq,
        tokens) it was read against.

        One query reads exactly those: a message fits when the tokens from it to the
        thread's end (its `offset` against the thread's total) are within the budget,
        and the index on `offset` bounds what the server examines to the budget."""
        last_seq, total = counter = await self._counter(thread_id)
        if last_seq == 0:
            return [], counter
        # One range only, and no hint: the development server scans the collection for
        # two ranges and is slow with hints.
        docs = await self._messages.find(
            {"thread_id": thread_id, "offset": {"$gte": total - max_tokens}},
            projection={"_id": 0, "id": 1, "seq": 1, "role": 1, "message": 1},
            sort=[("offset", DESCENDING)],
            limit=max_messages,
        ).to_list()
        skip = set(exclude)
        picked = sorted(
            (
                d
                for d in docs
                if d["id"] not in skip
                and not (exclude_prefixes and str(d["id"]).startswith(exclude_prefixes))
            ),
            key=lambda d: int(d["seq"]),
        )
        first_question = next((i for i, d in enumerate(picked) if d["role"] == "user"), None)
        picked = [] if first_question is None else picked[first_question:]
        return messages_from_dict([d["message"] for d in picked]), counter

    async def page(self, req: HistoryRequest) -> HistoryPage:
        """The `limit` visible messages just before the `before` message (or the newest),
        oldest first; `next_cursor` names the oldest of them when older ones exist."""
        thread = await self._threads.find_one({"_id": req.thread_id})
        if req.user_id is not None and thread is not None:
            if thread.get("user_id") not in (None, req.user_id):
                # Defence in depth: the gateway checked the session's owner already.
                raise NotFound("no such conversation", code="session_not_found")
        if req.before is None:
            before_seq = (int(thread["last_seq"]) if thread else 0) + 1
        else:
            anchor = await self._messages.find_one(
                {"thread_id": req.thread_id, "id": req.before}, projection={"seq": 1}
            )
            if anchor is None:
                raise BadRequest(
                    "cursor does not name a message of this conversation", code="invalid_cursor"
                )
            before_seq = int(anchor["seq"])
        # Roles are filtered here rather than in the query, which would then not be
        # served by the index on the development server.
        docs: list[Doc] = []
        async for doc in self._newest_first(
            req.thread_id, before_seq=before_seq, width=req.limit + 1
        ):
            if doc["role"] in VISIBLE_ROLES:
                docs.append(doc)
                if len(docs) > req.limit:
                    break
        more = len(docs) > req.limit
        docs = docs[: req.limit]
        docs.reverse()
        stored = messages_from_dict([d["message"] for d in docs])
        messages = [m for m in map(to_history_message, stored) if m is not None]
        return HistoryPage(
            messages=messages, next_cursor=messages[0].id if more and messages else None
        )

    async def find(self, thread_id: str, message_id: str) -> tuple[int, BaseMessage] | None:
        """A message of the thread by id, with its `seq`."""
        doc = await self._messages.find_one(
            {"thread_id": thread_id, "id": message_id}, projection={"seq": 1, "message": 1}
        )
        if doc is None:
            return None
        return int(doc["seq"]), messages_from_dict([doc["message"]])[0]

    async def last_question(self, thread_id: str) -> tuple[int, BaseMessage] | None:
        """The thread's newest user message, with its `seq`."""
        before = await self.last_seq(thread_id) + 1
        async for doc in self._newest_first(thread_id, before_seq=before, width=8):
            if doc["role"] == "user":
                return int(doc["seq"]), messages_from_dict([doc["message"]])[0]
        return None

    async def truncate(self, thread_id: str, *, from_seq: int) -> None:
        """Forget the messages from `from_seq` on: they leave history and the model's
        context. The thread's token count goes back to where they started, so the next
        messages take their place in the context budget (`seq`s are not reused)."""
        first = await self._messages.find_one(
            {"thread_id": thread_id, "seq": {"$gte": from_seq}},
            projection={"offset": 1},
            sort=[("seq", ASCENDING)],
        )
        if first is None:
            return
        await self._messages.delete_many({"thread_id": thread_id, "seq": {"$gte": from_seq}})
        await self._threads.update_one({"_id": thread_id}, {"$set": {"tokens": first["offset"]}})

    async def delete_thread(self, thread_id: str) -> None:
        await self._messages.delete_many({"thread_id": thread_id})
        await self._threads.delete_one({"_id": thread_id})


@dataclass(frozen=True)
class ContextBudget:
    """How much of a conversation's past goes to the model with each new message."""

    #: langchain-core's approximate token count of the earlier messages.
    max_tokens: int
    max_messages: int


class TurnMemory:
    """What one run knows of its conversation: the earlier turns it gives the model
    (read once, within the budget) and where this turn's messages go when it ends."""

    def __init__(
        self,
        store: MessageStore,
        thread_id: str,
        budget: ContextBudget,
        *,
        own_ids: Iterable[str] = (),
        own_prefixes: tuple[str, ...] = (),
        owner: str | None = None,
    ) -> None:
        self._owner = owner
        self._store = store
        self._thread_id = thread_id
        self._budget = budget
        #: This run's messages, which a retried run may already have stored.
        self._own_ids = set(own_ids)
        self._own_prefixes = own_prefixes
        self._reused: set[str] = set()
        self._loading: asyncio.Task[tuple[list[BaseMessage], tuple[int, int]]] | None = None
        #: The thread's last `seq` before and after this turn's messages were stored.
        self.stored_span: tuple[int, int] | None = None

    def reuse(self, message_id: str) -> None:
        """This turn answers a message stored already (a regenerated reply): leave it out
        of the earlier turns, and do not store it again."""
        if self._loading is not None:
            raise RuntimeError("the earlier turns are read already")
        self._own_ids.add(message_id)
        self._reused.add(message_id)

    def prefetch(self) -> asyncio.Task[tuple[list[BaseMessage], tuple[int, int]]]:
        """Start reading the earlier turns now, while the run does other round trips."""
        if self._loading is None:
            self._loading = asyncio.create_task(
                self._store.recent(
                    self._thread_id,
                    max_tokens=self._budget.max_tokens,
                    max_messages=self._budget.max_messages,
                    exclude=self._own_ids,
                    exclude_prefixes=self._own_prefixes,
                )
            )
        return self._loading

    async def earlier(self) -> list[BaseMessage]:
        return (await self.prefetch())[0]

    async def close(self) -> None:
        """Drop a read that is no longer wanted (the run did not start)."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
            with contextlib.suppress(BaseException):
                await self._loading

    async def remember(self, turn: Sequence[BaseMessage]) -> None:
        """Store this turn's messages after the conversation's earlier ones."""
        turn = [m for m in turn if m.id not in self._reused]
        counter = None
        if self._loading is not None and self._loading.done() and not self._loading.cancelled():
            if self._loading.exception() is None:
                counter = self._loading.result()[1]
        await self._store.append(self._thread_id, turn, counter=counter, owner=self._owner)
        if counter is not None:
            self.stored_span = (counter[0], counter[0] + len(turn))
