"""Publishing one run's events to JetStream with a per-run `seq`.

Tokens are coalesced only while a publish is in flight: at a low token rate every
token is its own event, under load several tokens share one (docs/design.md §2).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import orjson
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import APIError, NotFoundError

from llmsvc.agent_worker.metrics import TIME_TO_FIRST_TOKEN
from llmsvc.agent_worker.run_outcomes import RunFenced
from llmsvc.common import subjects
from llmsvc.common.contracts.agent import EventType, RunEvent
from llmsvc.common.logging import get_logger
from llmsvc.common.tracing import trace_headers

log = get_logger(__name__)


_WRONG_LAST_SEQUENCE = (10071, 10164)


@dataclass(frozen=True)
class StoredEvent:
    event: RunEvent
    stream_seq: int


class RunEventPublisher:
    """Publishes one run's events, fenced: each publish states the stream sequence of the
    run's previous event, so a second worker writing the same run makes the other fail."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        run_id: str,
        user_id: str,
        after: StoredEvent | None = None,
        started_at: float | None = None,
    ):
        self._js = js
        self._run_id = run_id
        self._user_id = user_id
        self._subject = subjects.run_events(run_id)
        self._seq = self._after_seq = after.event.seq if after else 0
        self._expected_stream_seq = after.stream_seq if after else 0
        self.fenced = False
        self._pending: list[str] = []
        self._unacked: tuple[int, EventType, dict[str, Any]] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self._flusher: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        #: When the job was taken (`perf_counter`): the first token is timed from it.
        self._started_at = started_at

    async def publish(self, type_: EventType, data: dict[str, Any]) -> None:
        """Publish one event now (after any tokens queued before it) and wait for the ack."""
        await self._drain_tokens()
        async with self._lock:
            await self._publish_locked(type_, data)

    def publish_first(self, type_: EventType, data: dict[str, Any]) -> asyncio.Task[None]:
        """Start publishing the run's first event without waiting for its ack. It takes
        the publish lock before any token can (the task runs before any other work this
        publisher is given), so it is stored first; await the task to learn how it went."""
        if self._seq != (self._after_seq) or self._flusher is not None:
            raise RuntimeError("publish_first must be the first publish of this publisher")
        return asyncio.create_task(self.publish(type_, data))

    def token(self, text: str) -> None:
        """Queue a token; it is published as soon as no other publish is in flight."""
        if not text:
            return
        self._pending.append(text)
        self._wake.set()
        if self._flusher is None:  # the run's first token
            self._flusher = asyncio.create_task(self._flush_loop())
            if self._started_at is not None:
                TIME_TO_FIRST_TOKEN.observe(time.perf_counter() - self._started_at)

    async def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._flusher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    async def _drain_tokens(self) -> None:
        async with self._lock:
            if self._unacked is not None:
                # A publish whose outcome is unknown is retried exactly as it was (same
                # seq, same Nats-Msg-Id), so JetStream drops it if it was stored after all.
                await self._send(*self._unacked)
                self._unacked = None
            if self._pending:
                text, self._pending = "".join(self._pending), []
                self._seq += 1
                self._unacked = (self._seq, "token", {"text": text})
                await self._send(*self._unacked)
                self._unacked = None

    async def _flush_loop(self) -> None:
        while not self._closed:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._drain_tokens()
            except RunFenced:
                self.fenced = True
                return
            except Exception as exc:
                # A failed publish (e.g. NATS reconnecting) must not stop the stream:
                # the text stays queued and goes out with the next attempt.
                log.warning("token_publish_failed", run_id=self._run_id, error=repr(exc))
                await asyncio.sleep(0.2)
                self._wake.set()

    async def _publish_locked(self, type_: EventType, data: dict[str, Any]) -> None:
        self._seq += 1
        await self._send(self._seq, type_, data)

    async def _send(self, seq: int, type_: EventType, data: dict[str, Any]) -> None:
        if self.fenced:
            raise RunFenced(self._run_id)
        # RunEvent's JSON, written directly: a model per token cost more than the rest.
        body = {
            "run_id": self._run_id,
            "seq": seq,
            "type": type_,
            "data": data,
            "user_id": self._user_id,
        }
        try:
            ack = await self._js.publish(
                self._subject,
                orjson.dumps(body),
                headers=trace_headers(
                    {
                        "Nats-Msg-Id": f"{self._run_id}:{seq}",
                        Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(self._expected_stream_seq),
                    }
                ),
            )
        except APIError as exc:
            if exc.err_code not in _WRONG_LAST_SEQUENCE:
                raise
            stored = await last_event(self._js, self._run_id)
            if stored is not None and stored.event == RunEvent.model_validate(body):
                # Our own earlier attempt was stored after all (its ack was lost).
                self._expected_stream_seq = stored.stream_seq
                return
            self.fenced = True
            raise RunFenced(self._run_id) from exc
        self._expected_stream_seq = ack.seq


async def last_event(js: JetStreamContext, run_id: str) -> StoredEvent | None:
    """The newest stored event of a run, if any (used when a job is redelivered)."""
    try:
        msg = await js.get_last_msg(subjects.AGENT_EVENTS_STREAM, subjects.run_events(run_id))
    except NotFoundError:
        return None
    if msg.data is None or msg.seq is None:
        return None
    return StoredEvent(RunEvent.model_validate_json(msg.data), msg.seq)
