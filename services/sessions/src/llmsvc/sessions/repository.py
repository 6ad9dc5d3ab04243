"""Mongo access for the sessions service: the `sessions` collection."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from llmsvc.common.contracts.sessions import DEFAULT_SESSION_NAME, Session

__all__ = ["Document", "SessionRepository"]

Document = dict[str, Any]


class SessionRepository:
    """`{_id: session_id, thread_id, user_id, name, created_at, updated_at, model,
    instructions, title_source}` (documents from before the last three read as the
    default model, no instructions, and a name the user chose unless it is the default).

    A deletion first sets `deleted_at` (the session disappears for its owner), then
    announces it, then removes the document: a session whose announcement failed is
    still there to announce again. Every read below skips such sessions.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._sessions = collection

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._sessions.database

    async def setup(self) -> None:
        # Serves the owner's list, newest activity first, and the keyset that pages it.
        await self._sessions.create_index(
            [("user_id", ASCENDING), ("updated_at", DESCENDING), ("_id", DESCENDING)],
            name="user_recent",
        )
        await self._sessions.create_index(
            [("deleted_at", ASCENDING)], sparse=True, name="deleted_at"
        )

    async def insert(self, session: Session) -> None:
        await self._sessions.insert_one(
            {
                "_id": session.session_id,
                "thread_id": session.thread_id,
                "user_id": session.user_id,
                "name": session.name,
                "created_at": session.created_at,
                "updated_at": session.updated_at,
                "model": session.model,
                "instructions": session.instructions,
                "title_source": session.title_source,
            }
        )

    async def get(self, *, user_id: str, session_id: str) -> Session | None:
        return _session(await self._sessions.find_one(_live(user_id, session_id)))

    async def page(
        self,
        *,
        user_id: str,
        limit: int,
        after: tuple[datetime, str] | None,
        words: Sequence[str] = (),
    ) -> list[Session]:
        """Up to `limit` of the owner's sessions, newest activity first, after a sort key;
        with `words`, only those whose name contains each of them (any case)."""
        query: Document = {"user_id": user_id, "deleted_at": None}
        if words:
            # Escaped: the user's words are text to find, never a pattern.
            query["$and"] = [
                {"name": {"$regex": re.escape(word), "$options": "i"}} for word in words
            ]
        if after is not None:
            updated_at, session_id = after
            query["$or"] = [
                {"updated_at": {"$lt": updated_at}},
                {"updated_at": updated_at, "_id": {"$lt": session_id}},
            ]
        cursor = (
            self._sessions.find(query)
            .sort([("updated_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [_required(doc) async for doc in cursor]

    async def update(
        self, *, user_id: str, session_id: str, fields: Document, only_if: Document | None = None
    ) -> Session | None:
        """Set `fields` on the owner's session (and only if it also matches `only_if`)."""
        doc = await self._sessions.find_one_and_update(
            {**_live(user_id, session_id), **(only_if or {})},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return _session(doc)

    async def mark_deleted(self, *, user_id: str, session_id: str, now: datetime) -> Session | None:
        """Hide the session; also matches one whose earlier deletion did not finish."""
        doc = await self._sessions.find_one_and_update(
            {"_id": session_id, "user_id": user_id},
            {"$set": {"deleted_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _session(doc)

    async def remove(self, session_id: str) -> None:
        await self._sessions.delete_one({"_id": session_id})

    async def unfinished_deletions(self, *, before: datetime, limit: int) -> list[Session]:
        cursor = self._sessions.find({"deleted_at": {"$lt": before}}).limit(limit)
        return [_required(doc) async for doc in cursor]


def _live(user_id: str, session_id: str) -> Document:
    # Owner in the filter: another user's session is indistinguishable from a missing one.
    return {"_id": session_id, "user_id": user_id, "deleted_at": None}


def _session(doc: Document | None) -> Session | None:
    return None if doc is None else _required(doc)


def _required(doc: Document) -> Session:
    return Session(
        session_id=doc["_id"],
        thread_id=doc["thread_id"],
        user_id=doc["user_id"],
        name=doc["name"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        model=doc.get("model"),
        instructions=doc.get("instructions") or "",
        title_source=doc.get("title_source")
        or ("default" if doc["name"] == DEFAULT_SESSION_NAME else "user"),
    )
