"""Starting runs and following their events on JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import structlog
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, Header
from nats.js.errors import APIError, NotFoundError
from pydantic import ValidationError

from llmsvc.common import subjects
from llmsvc.common.contracts.agent import RunEvent, RunJob
from llmsvc.common.contracts.sessions import CreateSession, GetSession, Session, TouchSession
from llmsvc.common.errors import Conflict, NotFound, RateLimited, Unavailable
from llmsvc.common.ids import new_id, utcnow
from llmsvc.common.logging import get_logger
from llmsvc.common.streams import RUN_EVENTS_CONSUMER_IDLE_S
from llmsvc.common.tracing import trace_headers
from llmsvc.gateway.metrics import (
    EVENT_STREAMS_OPEN,
    RUNS_REJECTED,
    RUNS_STARTED,
    TIME_TO_FIRST_TOKEN,
    events_relayed,
)
from llmsvc.gateway.state import GatewayState

log = get_logger(__name__)


async def resolve_session(
    state: GatewayState, *, user_id: str, session_id: str | None, first_message: str
) -> Session:
    """The conversation a message goes to: a new one without `session_id`, else the
    caller's own (from the cache of checked sessions when this gateway has one)."""
    if session_id is None:
        await admit_conversation(state, user_id)
        # A provisional name, which the automatic title replaces after the first reply.
        name = " ".join(first_message.split())[:60] or None
        session = await state.sessions.create(
            CreateSession(user_id=user_id, name=name, title_source="default")
        )
    else:
        cached = state.session_cache.get(user_id=user_id, session_id=session_id)
        if cached is not None:
            return cached
        session = await owned_session(state, user_id=user_id, session_id=session_id)
    state.session_cache.put(session)
    return session


async def admit_conversation(state: GatewayState, user_id: str) -> None:
    """Count a new conversation against the user's quota, or raise RateLimited (429)."""
    try:
        await state.quotas.admit_conversation(user_id)
    except RateLimited:
        RUNS_REJECTED.labels("conversation_quota").inc()
        raise


async def owned_session(state: GatewayState, *, user_id: str, session_id: str) -> Session:
    """The session if `user_id` owns it; another user's is a 404, like a missing one."""
    return await state.sessions.get(GetSession(user_id=user_id, session_id=session_id))


def new_job(
    session: Session, message: str, *, edit_message_id: str | None = None, regenerate: bool = False
) -> RunJob:
    return RunJob(
        edit_message_id=edit_message_id,
        regenerate=regenerate,
        run_id=new_id(),
        session_id=session.session_id,
        thread_id=session.thread_id,
        user_id=session.user_id,
        message=message,
        message_id=f"user-{new_id()}",
        created_at=utcnow(),
        model=session.model,
        instructions=session.instructions,
        wants_title=session.title_source == "default",
    )


async def start_run(state: GatewayState, *, session: Session | None, job: RunJob) -> int:
    """Publish `job` for `session` (None for a stateless completion, whose job names a
    session id of its own); 409 if the conversation already has an active run, 429 if
    the user's quotas refuse it. Returns the job's sequence in the jobs stream."""
    structlog.contextvars.bind_contextvars(run_id=job.run_id, session_id=job.session_id)
    # The conversation's lock and the user's quotas are asked at once (two round trips
    # to NATS each); whichever refuses, the other is given back.
    locked, admitted = await asyncio.gather(
        state.locks.acquire(job.session_id, job.run_id),
        state.quotas.admit_run(
            job.user_id, job.run_id, job.session_id, still_running=state.locks.holds
        ),
        return_exceptions=True,
    )
    if locked is not None or admitted is not None:
        await _give_back(state, job, locked=locked is None, admitted=admitted is None)
        if isinstance(locked, BaseException):
            raise locked
        if isinstance(locked, str):
            RUNS_REJECTED.labels("run_active").inc()
            raise Conflict(
                "this conversation already has a run in progress", code="run_active", run_id=locked
            )
        RUNS_REJECTED.labels("quota").inc()
        assert isinstance(admitted, BaseException)
        raise admitted
    try:
        job_seq = await _publish_job(state, job)
    except Exception as exc:
        await _give_back(state, job, locked=True, admitted=True)
        RUNS_REJECTED.labels("queue_unavailable").inc()
        raise Unavailable("could not queue the run; try again") from exc
    RUNS_STARTED.inc()
    if session is not None:
        # Only the list's ordering depends on it: never make the client wait for it.
        touch = asyncio.create_task(_touch(state, session))
        _background.add(touch)
        touch.add_done_callback(_background.discard)
    return job_seq


async def _give_back(state: GatewayState, job: RunJob, *, locked: bool, admitted: bool) -> None:
    await _free(
        state,
        session_id=job.session_id if locked else None,
        run_id=job.run_id,
        user_id=job.user_id if admitted else None,
    )


async def _free(
    state: GatewayState, *, run_id: str, session_id: str | None, user_id: str | None
) -> None:
    """Release the conversation's lock (with `session_id`) and take the run off its
    user's quota (with `user_id`), as far as NATS lets us: both expire on their own."""
    with contextlib.suppress(Exception):
        if session_id is not None:
            await state.locks.release(session_id, run_id)
        if user_id is not None:
            await state.quotas.run_ended(user_id, run_id)


async def _publish_job(state: GatewayState, job: RunJob, attempts: int = 3) -> int:
    """Publish with retries. A timed-out publish may still have been stored: the retry
    carries the same Nats-Msg-Id, so JetStream keeps one job, never two runs."""
    for attempt in range(1, attempts + 1):
        try:
            ack = await state.js.publish(
                subjects.AGENT_JOBS_SUBJECT,
                job.model_dump_json().encode(),
                headers=trace_headers({"Nats-Msg-Id": job.run_id}),
                timeout=2,
            )
            return ack.seq
        except Exception:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


_background: set[asyncio.Task[None]] = set()


async def _touch(state: GatewayState, session: Session) -> None:
    try:
        await state.sessions.touch(
            TouchSession(user_id=session.user_id, session_id=session.session_id)
        )
    except Exception as exc:
        log.warning("session_touch_failed", session_id=session.session_id, error=repr(exc))


@dataclass(frozen=True)
class QueuedRun:
    """A run that may not have started yet: what it takes to withdraw it when no worker
    takes it in time (`RUN_START_TIMEOUT_S`)."""

    user_id: str
    session_id: str
    #: When it was queued (`time.time()`).
    queued_at: float
    #: The job's sequence in the jobs stream, when this gateway queued it.
    job_seq: int | None = None


#: The one event a gateway ever stores for a run: its `error` when no worker took it.
#: A Nats-Msg-Id of its own, so JetStream never takes it for the worker's first event.
_NO_WORKER_MSG_ID = "{run_id}:no_worker"
_WRONG_LAST_SEQUENCE = (10071, 10164)


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


async def queued_run(state: GatewayState, *, user_id: str, run_id: str) -> QueuedRun:
    """`user_id`'s run that no worker has started (it has no events yet but is counted
    on the user's quota); 404 if the user has no such run."""
    try:
        active = (await state.quotas.usage(user_id)).get("active") or {}
    except Exception as exc:
        raise Unavailable("the run cannot be looked up now; try again") from exc
    entry = active.get(run_id)
    if not isinstance(entry, list) or len(entry) != 2:
        raise NotFound("no such run", code="run_not_found")
    session_id, admitted_at = entry
    return QueuedRun(user_id=user_id, session_id=str(session_id), queued_at=float(admitted_at))


class RunEvents:
    """A run's stored events, followed from the first: an ordered JetStream consumer on
    its subject. Open it before the run starts (or while it starts) so nothing is
    missed, then iterate `follow()`; `close()` ends it.

    While a `queued` run has no event, the follower waits for a worker at most
    `RUN_START_TIMEOUT_S` after it was queued, then withdraws the run (`withdraw`)."""

    def __init__(
        self,
        state: GatewayState,
        sub: JetStreamContext.PushSubscription,
        run_id: str,
        queued: QueuedRun | None = None,
    ) -> None:
        self._state = state
        self._sub = sub
        self.run_id = run_id
        self.queued = queued
        self._closed = False
        #: When the message that started the run arrived (`perf_counter`), if this
        #: client sent it: its first token is the time to first token.
        self.started_at: float | None = None
        EVENT_STREAMS_OPEN.inc()

    @classmethod
    async def open(
        cls, state: GatewayState, run_id: str, queued: QueuedRun | None = None
    ) -> RunEvents:
        """503 `events_unavailable` (with the run id, which a queued run keeps) when
        JetStream refuses the consumer."""
        try:
            sub = await state.js.subscribe(
                subjects.run_events(run_id),
                # Named, so nats-py does not first ask the server which stream it is.
                stream=subjects.AGENT_EVENTS_STREAM,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=RUN_EVENTS_CONSUMER_IDLE_S,
            )
        except Exception as exc:
            log.warning("run_events_open_failed", run_id=run_id, error=repr(exc))
            raise Unavailable(
                "the run's events cannot be followed now; try again",
                code="events_unavailable",
                run_id=run_id,
            ) from exc
        return cls(state, sub, run_id, queued)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        EVENT_STREAMS_OPEN.dec()
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    def _start_deadline(self) -> float | None:
        """When (`monotonic`) to give up waiting for a worker, if the run may be queued."""
        timeout = self._state.settings.run_start_timeout_s
        if self.queued is None or not timeout:
            return None
        return time.monotonic() + max(0.0, self.queued.queued_at + timeout - time.time())

    async def follow(
        self, *, after_seq: int = 0, ping_s: float | None = None
    ) -> AsyncIterator[RunEvent | None]:
        """Yield the run's events after `after_seq`, each once, until a terminal one,
        then close. Yields None after `ping_s` seconds without an event, so callers can
        keep a connection alive."""
        deadline = self._start_deadline() if after_seq == 0 else None
        try:
            while True:
                wait = ping_s
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        # Its `error` (ours, or a worker's first event) comes next.
                        asked = await self.withdraw() is not None
                        deadline = None if asked else time.monotonic() + 1.0
                        continue
                    wait = left if wait is None else min(wait, left)
                try:
                    msg = await self._sub.next_msg(timeout=wait)
                except (TimeoutError, NatsTimeoutError):
                    if deadline is None or time.monotonic() < deadline:
                        yield None
                    continue
                deadline = None  # a worker has it (or it has ended)
                try:
                    event = RunEvent.model_validate_json(msg.data)
                except ValidationError:
                    log.error("malformed_run_event", run_id=self.run_id)
                    continue
                if event.seq <= after_seq:
                    continue  # already delivered before a reconnect, or a duplicate
                after_seq = event.seq
                events_relayed(event.type).inc()
                if self.started_at is not None and event.type == "token":
                    TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - self.started_at)
                    self.started_at = None
                yield event
                if event.terminal:
                    return
        finally:
            await self.close()

    async def withdraw(self) -> bool | None:
        """End a run that no worker has started with `error` `no_worker`: True if it was
        withdrawn (its job deleted, its conversation and quota freed), False if a worker
        had started it after all, None if NATS could not be asked (try again).

        The `error` is published as the run's first event only if it has none: a worker's
        first event is published the same way, so exactly one of them is stored, and a
        worker that loses stops without a word (or never starts: workers also refuse jobs
        older than the timeout)."""
        queued = self.queued
        if queued is None:
            return False
        state, timeout = self._state, self._state.settings.run_start_timeout_s
        body = {
            "run_id": self.run_id,
            "seq": 1,
            "type": "error",
            "data": {
                "code": "no_worker",
                "message": f"no worker took the run within {timeout:g} s; send it again",
            },
            "user_id": queued.user_id,
        }
        try:
            await state.js.publish(
                subjects.run_events(self.run_id),
                orjson.dumps(body),
                headers={
                    "Nats-Msg-Id": _NO_WORKER_MSG_ID.format(run_id=self.run_id),
                    Header.EXPECTED_LAST_SUBJECT_SEQUENCE: "0",
                },
                timeout=2,
            )
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                return False
            log.warning("run_withdraw_failed", run_id=self.run_id, error=repr(exc))
            return None
        except Exception as exc:
            log.warning("run_withdraw_failed", run_id=self.run_id, error=repr(exc))
            return None
        RUNS_REJECTED.labels("no_worker").inc()
        log.warning("run_withdrawn", run_id=self.run_id, reason="no_worker")
        if queued.job_seq is not None:
            with contextlib.suppress(Exception):
                await state.js.delete_msg(subjects.AGENT_JOBS_STREAM, queued.job_seq)
        await _free(state, run_id=self.run_id, session_id=queued.session_id, user_id=queued.user_id)
        return True


async def start_and_follow(
    state: GatewayState, *, session: Session | None, job: RunJob
) -> RunEvents:
    """Start `job` in `session` and return its events. The events' consumer is created
    while the run is being queued: both are round trips to NATS."""
    started_at = time.perf_counter()
    opening = asyncio.create_task(RunEvents.open(state, job.run_id))
    try:
        job_seq = await start_run(state, session=session, job=job)
    except BaseException:
        opening.cancel()
        with contextlib.suppress(BaseException):
            await (await opening).close()
        raise
    events = await opening
    events.started_at = started_at
    events.queued = QueuedRun(
        user_id=job.user_id, session_id=job.session_id, queued_at=time.time(), job_seq=job_seq
    )
    return events
