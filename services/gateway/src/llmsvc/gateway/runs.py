"""Starting runs and following their events on JetStream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from llmsvc.common import subjects
from llmsvc.common.contracts.agent import RunEvent, RunJob
from llmsvc.common.contracts.sessions import CreateSession, GetSession, Session, TouchSession
from llmsvc.common.errors import Conflict, NotFound, Unavailable
from llmsvc.common.ids import new_id, utcnow
from llmsvc.common.logging import get_logger
from llmsvc.common.nats_client import request_model
from llmsvc.gateway.metrics import (
    EVENT_STREAMS_OPEN,
    EVENTS_RELAYED,
    RUNS_REJECTED,
    RUNS_STARTED,
)
from llmsvc.gateway.state import GatewayState

log = get_logger(__name__)


async def resolve_session(
    state: GatewayState, *, user_id: str, session_id: str | None, first_message: str
) -> Session:
    timeout = state.settings.rpc_timeout_s
    if session_id is None:
        name = " ".join(first_message.split())[:60] or None
        return await request_model(
            state.nc,
            subjects.SESSIONS_CREATE,
            CreateSession(user_id=user_id, name=name),
            Session,
            timeout_s=timeout,
        )
    return await owned_session(state, user_id=user_id, session_id=session_id)


async def owned_session(state: GatewayState, *, user_id: str, session_id: str) -> Session:
    """The session if `user_id` owns it; another user's is a 404, like a missing one."""
    return await request_model(
        state.nc,
        subjects.SESSIONS_GET,
        GetSession(user_id=user_id, session_id=session_id),
        Session,
        timeout_s=state.settings.rpc_timeout_s,
    )


async def start_run(state: GatewayState, *, session: Session, message: str) -> RunJob:
    """Publish a job for `session`; 409 if the conversation already has an active run."""
    job = RunJob(
        run_id=new_id(),
        session_id=session.session_id,
        thread_id=session.thread_id,
        user_id=session.user_id,
        message=message,
        message_id=f"user-{new_id()}",
        created_at=utcnow(),
    )
    holder = await state.locks.acquire(session.session_id, job.run_id)
    if holder is not None:
        RUNS_REJECTED.labels("run_active").inc()
        raise Conflict(
            "this conversation already has a run in progress", code="run_active", run_id=holder
        )
    try:
        await _publish_job(state, job)
    except Exception as exc:
        await state.locks.release(session.session_id, job.run_id)
        RUNS_REJECTED.labels("queue_unavailable").inc()
        raise Unavailable("could not queue the run; try again") from exc
    RUNS_STARTED.inc()
    # Only the list's ordering depends on it: never make the client wait for it.
    touch = asyncio.create_task(_touch(state, session))
    _background.add(touch)
    touch.add_done_callback(_background.discard)
    return job


async def _publish_job(state: GatewayState, job: RunJob, attempts: int = 3) -> None:
    """Publish with retries. A timed-out publish may still have been stored: the retry
    carries the same Nats-Msg-Id, so JetStream keeps one job, never two runs."""
    for attempt in range(1, attempts + 1):
        try:
            await state.js.publish(
                subjects.AGENT_JOBS_SUBJECT,
                job.model_dump_json().encode(),
                headers={"Nats-Msg-Id": job.run_id},
                timeout=2,
            )
            return
        except Exception:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.1 * attempt)


_background: set[asyncio.Task[None]] = set()


async def _touch(state: GatewayState, session: Session) -> None:
    try:
        await request_model(
            state.nc,
            subjects.SESSIONS_TOUCH,
            TouchSession(user_id=session.user_id, session_id=session.session_id),
            Session,
            timeout_s=state.settings.rpc_timeout_s,
        )
    except Exception as exc:
        log.warning("session_touch_failed", session_id=session.session_id, error=repr(exc))


async def run_owner(state: GatewayState, run_id: str) -> str:
    """The user a run belongs to, from its newest stored event; 404 if none is kept."""
    try:
        msg = await state.js.get_last_msg(subjects.AGENT_EVENTS_STREAM, subjects.run_events(run_id))
    except NotFoundError as exc:
        raise NotFound("no such run", code="run_not_found") from exc
    try:
        return RunEvent.model_validate_json(msg.data or b"").user_id
    except ValidationError as exc:
        raise NotFound("no such run", code="run_not_found") from exc


async def follow_run(
    state: GatewayState, run_id: str, *, after_seq: int = 0, ping_s: float | None = None
) -> AsyncIterator[RunEvent | None]:
    """Yield the run's events after `after_seq`, each once, until a terminal one.

    Yields None after `ping_s` seconds without an event, so callers can keep
    a connection alive."""
    sub = await state.js.subscribe(
        subjects.run_events(run_id),
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=60.0,
    )
    EVENT_STREAMS_OPEN.inc()
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=ping_s)
            except (TimeoutError, NatsTimeoutError):
                yield None
                continue
            try:
                event = RunEvent.model_validate_json(msg.data)
            except ValidationError:
                log.error("malformed_run_event", run_id=run_id)
                continue
            if event.seq <= after_seq:
                continue  # already delivered before a reconnect, or a duplicate
            after_seq = event.seq
            EVENTS_RELAYED.labels(event.type).inc()
            yield event
            if event.terminal:
                return
    finally:
        EVENT_STREAMS_OPEN.dec()
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
