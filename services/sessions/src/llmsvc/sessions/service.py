"""The rules of sessions: owner-only access, newest-activity-first paging."""

from __future__ import annotations

from datetime import datetime

from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.contracts.sessions import (
    DEFAULT_SESSION_NAME,
    CreateSession,
    DeleteSession,
    GetSession,
    ListSessions,
    Session,
    SessionPage,
    SetAutoTitle,
    TouchSession,
    UpdateSession,
)
from llmsvc.common.errors import NotFound
from llmsvc.common.ids import new_id, utcnow
from llmsvc.common.storage_health import storage_health
from llmsvc.sessions.cursor import decode_cursor, encode_cursor
from llmsvc.sessions.events import DeletionAnnouncer, NoUpdateNotifier, UpdateNotifier
from llmsvc.sessions.flows import delete_session
from llmsvc.sessions.repository import SessionRepository

__all__ = ["SessionService", "bson_now"]


def bson_now() -> datetime:
    """Now, cut to the millisecond BSON keeps: replies and cursors match what is stored."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class SessionService:
    def __init__(
        self,
        *,
        sessions: SessionRepository,
        announcer: DeletionAnnouncer,
        notifier: UpdateNotifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._announcer = announcer
        self._notifier = notifier or NoUpdateNotifier()

    async def health(self, req: HealthRequest) -> dict[str, bool]:
        return await storage_health(self._sessions.database, req)

    async def create(self, req: CreateSession) -> Session:
        now = bson_now()
        session = Session(
            session_id=new_id(),
            # Its own id: the agent's checkpoints are keyed by thread, not by session.
            thread_id=new_id(),
            user_id=req.user_id,
            name=req.name or DEFAULT_SESSION_NAME,
            created_at=now,
            updated_at=now,
            model=req.model,
            instructions=req.instructions,
            title_source=req.title_source or ("user" if req.name else "default"),
        )
        await self._sessions.insert(session)
        return session

    async def get(self, req: GetSession) -> Session:
        return _found(await self._sessions.get(user_id=req.user_id, session_id=req.session_id))

    async def list_sessions(self, req: ListSessions) -> SessionPage:
        after = decode_cursor(req.cursor) if req.cursor else None
        # One more than asked tells whether another page follows.
        found = await self._sessions.page(
            user_id=req.user_id, limit=req.limit + 1, after=after, words=req.query.split()[:10]
        )
        page = found[: req.limit]
        next_cursor = None
        if len(found) > req.limit:
            last = page[-1]
            next_cursor = encode_cursor(last.updated_at, last.session_id)
        return SessionPage(sessions=page, next_cursor=next_cursor)

    async def update(self, req: UpdateSession) -> Session:
        fields: dict[str, object] = {"updated_at": bson_now()}
        if req.name is not None:
            fields.update(name=req.name, title_source="user")
        if req.model is not None:
            fields["model"] = req.model
        if req.instructions is not None:
            fields["instructions"] = req.instructions
        session = _found(
            await self._sessions.update(
                user_id=req.user_id, session_id=req.session_id, fields=fields
            )
        )
        await self._notifier.updated(session)
        return session

    async def set_auto_title(self, req: SetAutoTitle) -> Session | None:
        """Name the conversation `title` unless someone has named it already; the session
        as it now is, or None when the title was not taken."""
        session = await self._sessions.update(
            user_id=req.user_id,
            session_id=req.session_id,
            fields={"name": req.title, "title_source": "auto"},
            only_if={"title_source": {"$in": ["default", None]}},
        )
        if session is not None:
            await self._notifier.updated(session)
        return session

    async def touch(self, req: TouchSession) -> Session:
        return _found(
            await self._sessions.update(
                user_id=req.user_id, session_id=req.session_id, fields={"updated_at": bson_now()}
            )
        )

    async def delete(self, req: DeleteSession) -> dict[str, bool]:
        return await delete_session(req, sessions=self._sessions, announcer=self._announcer)


def _found(session: Session | None) -> Session:
    if session is None:
        # Also for another user's session: whether it exists is none of the caller's business.
        raise NotFound("no such session", code="session_not_found")
    return session
