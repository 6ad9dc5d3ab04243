"""Taking jobs from JetStream: one fetch per free slot, so a waiting job starts at once."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from llmsvc.agent_worker.flows import RunExecutor, heartbeat
from llmsvc.agent_worker.metrics import RUNS_ACTIVE, RUNS_REDELIVERED
from llmsvc.agent_worker.run_outcomes import RunDeferred, RunFenced
from llmsvc.common import subjects, tracing
from llmsvc.common.contracts.agent import RunJob
from llmsvc.common.ids import utcnow
from llmsvc.common.logging import get_logger

log = get_logger(__name__)


def jobs_consumer_config(*, ack_wait_s: float, max_deliver: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=subjects.AGENT_JOBS_CONSUMER,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_s,
        max_deliver=max_deliver,
        max_ack_pending=-1,
    )


class JobLoop:
    def __init__(
        self,
        js: JetStreamContext,
        executor: RunExecutor,
        *,
        concurrency: int,
        ack_wait_s: float,
        max_deliver: int,
        start_timeout_s: float = 0.0,
    ) -> None:
        self._js = js
        self._executor = executor
        self._slots = asyncio.Semaphore(concurrency)
        self._ack_wait_s = ack_wait_s
        self._max_deliver = max_deliver
        self._start_timeout_s = start_timeout_s
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        sub = await self._js.pull_subscribe(
            subjects.AGENT_JOBS_SUBJECT,
            durable=subjects.AGENT_JOBS_CONSUMER,
            stream=subjects.AGENT_JOBS_STREAM,
            config=jobs_consumer_config(ack_wait_s=self._ack_wait_s, max_deliver=self._max_deliver),
        )
        while True:
            await self._slots.acquire()
            try:
                msgs = await sub.fetch(1, timeout=5)
            except NatsTimeoutError:
                self._slots.release()
                continue
            except Exception:
                self._slots.release()
                log.exception("job_fetch_failed")
                await asyncio.sleep(1)
                continue
            for msg in msgs:
                task = asyncio.create_task(self._handle(msg))
                self._running.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def drain(self, timeout_s: float) -> None:
        """Let runs in flight finish; those still running after `timeout_s` are left
        unacked, so JetStream gives them to another worker."""
        if self._running:
            await asyncio.wait(self._running, timeout=timeout_s)
        for task in list(self._running):
            task.cancel()

    async def _handle(self, msg: Msg) -> None:
        try:
            job = RunJob.model_validate_json(msg.data)
        except ValidationError as exc:
            # Its size and what is wrong with it, never its content (user messages).
            log.error("job_malformed", size=len(msg.data), errors=exc.error_count())
            await msg.term()
            return
        # Every line logged while this job runs (in its own task) names the run.
        structlog.contextvars.bind_contextvars(
            run_id=job.run_id, session_id=job.session_id, user_id=job.user_id
        )
        if msg.metadata.num_delivered == 1 and self._too_late(job):
            # Its gateway has told the client that no worker took it (or would have).
            log.warning("run_too_late", run_id=job.run_id)
            await self._give_up(msg, job, "no_worker", "no worker took the run in time")
            return
        beat = asyncio.create_task(heartbeat(msg, self._ack_wait_s / 3))
        final_attempt = msg.metadata.num_delivered >= self._max_deliver
        if msg.metadata.num_delivered > 1:
            RUNS_REDELIVERED.inc()
        RUNS_ACTIVE.inc()
        try:
            # The run continues the trace of the request that queued it.
            with tracing.span(
                "agent run",
                parent=tracing.context_from(msg.headers),
                kind=SpanKind.CONSUMER,
                attributes={"llmsvc.run_id": job.run_id, "llmsvc.session_id": job.session_id},
            ):
                await self._executor.execute(job, first_delivery=msg.metadata.num_delivered == 1)
            await msg.ack()
        except asyncio.CancelledError:
            # Shutting down: hand the run to another worker now rather than after ack_wait.
            with contextlib.suppress(Exception):
                await msg.nak()
            raise
        except RunFenced:
            if await self._executor.ended_elsewhere(job):
                # Ended before this worker wrote anything (its gateway withdrew it, or
                # the worker that took it over finished): nothing more to do.
                await msg.ack()
            else:
                # Presumed dead after missed heartbeats, the job went to another worker,
                # which now owns it: neither ack nor nak, just stop.
                log.warning("run_fenced", run_id=job.run_id)
        except RunDeferred as exc:
            log.info("run_deferred", run_id=job.run_id, reason=str(exc))
            if final_attempt:
                await self._give_up(msg, job, "run_active", "another reply is still running")
            else:
                await msg.nak(delay=2)
        except Exception:
            log.exception("job_failed", run_id=job.run_id)
            if final_attempt:
                await self._give_up(msg, job, "run_failed", "the reply could not be produced")
            else:
                await msg.nak(delay=1)
        finally:
            beat.cancel()
            RUNS_ACTIVE.dec()

    def _too_late(self, job: RunJob) -> bool:
        if not self._start_timeout_s:
            return False
        return (utcnow() - job.created_at).total_seconds() > self._start_timeout_s

    async def _give_up(self, msg: Msg, job: RunJob, code: str, message: str) -> None:
        try:
            await self._executor.fail(job, {"code": code, "message": message})
        except Exception:
            log.exception("job_fail_event_lost", run_id=job.run_id)
        await msg.term()
