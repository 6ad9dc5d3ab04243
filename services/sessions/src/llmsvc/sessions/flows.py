"""Deleting a session: several steps with a side effect outside Mongo."""

from __future__ import annotations

from datetime import timedelta

from llmsvc.common.contracts.sessions import DeleteSession, Session, SessionDeleted
from llmsvc.common.errors import NotFound, ServiceError
from llmsvc.common.ids import utcnow
from llmsvc.common.logging import get_logger
from llmsvc.sessions.events import DeletionAnnouncer
from llmsvc.sessions.repository import SessionRepository

__all__ = ["delete_session", "finish_unfinished_deletions"]

log = get_logger(__name__)

#: A deletion younger than this may still be in flight in another replica.
UNFINISHED_AFTER = timedelta(minutes=1)


async def delete_session(
    req: DeleteSession, *, sessions: SessionRepository, announcer: DeletionAnnouncer
) -> dict[str, bool]:
    """Hide, announce, then remove.

    If the announcement fails the session stays hidden but present, the caller gets
    503, and a retry (or the start-up sweep) announces it again; the event's
    `Nats-Msg-Id` makes a repeat harmless. The reverse order could announce the
    deletion of a conversation that then survives.
    """
    session = await sessions.mark_deleted(
        user_id=req.user_id, session_id=req.session_id, now=utcnow()
    )
    if session is None:
        raise NotFound("no such session", code="session_not_found")
    await _announce_and_remove(session, sessions=sessions, announcer=announcer)
    log.info("session_deleted", session_id=session.session_id, user_id=session.user_id)
    return {"deleted": True}


async def finish_unfinished_deletions(
    *,
    sessions: SessionRepository,
    announcer: DeletionAnnouncer,
    older_than: timedelta = UNFINISHED_AFTER,
    limit: int = 1000,
) -> int:
    """Complete deletions whose announcement failed earlier and nobody retried."""
    done = 0
    for session in await sessions.unfinished_deletions(before=utcnow() - older_than, limit=limit):
        try:
            await _announce_and_remove(session, sessions=sessions, announcer=announcer)
        except ServiceError:
            log.warning("deletion_still_unfinished", session_id=session.session_id)
            continue
        done += 1
    if done:
        log.info("unfinished_deletions_completed", count=done)
    return done


async def _announce_and_remove(
    session: Session, *, sessions: SessionRepository, announcer: DeletionAnnouncer
) -> None:
    await announcer.announce(
        SessionDeleted(
            session_id=session.session_id, thread_id=session.thread_id, user_id=session.user_id
        )
    )
    await sessions.remove(session.session_id)
