"""Executing one run: stream the model's reply as events, always end with a terminal one.

A run lives in one scope (`RunExecutor.execute`), which holds everything the run needs
and gives it back in reverse order however the run ends:

- the job's heartbeat (`jobs.py`): `in_progress()` while the run lives, so JetStream does
  not give the job to another worker; a worker that stops heart-beating (it died) has
  its job redelivered after `JOB_ACK_WAIT_S`;
- the conversation's lock (NATS KV, taken by the gateway when it queued the run): claimed
  here (re-taken if it expired while the job waited), renewed while the reply streams,
  released before the terminal event so the next message can start at once. A run that
  finds another run holding it has lost the conversation and stops (`run_lock_lost`);
- the cancel subscription, opened before clients learn the run id, and cancels recorded
  while the job was queued;
- the event publisher (`events.py`), whose publishes are fenced: a worker presumed dead
  cannot write after the worker that took its job over (`RunFenced`);
- the reply task (the LangGraph agent), cancelled by a user's cancel or a lost lock.

How a run can end otherwise than with `done` is in `run_outcomes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import MessagesState
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from llmsvc.agent_worker.completions import CompletionTurn, new_message_prefix
from llmsvc.agent_worker.events import RunEventPublisher, last_event
from llmsvc.agent_worker.graph import AgentGraph, RunContext
from llmsvc.agent_worker.history import role_of
from llmsvc.agent_worker.message_store import ContextBudget, MessageStore, TurnMemory
from llmsvc.agent_worker.metrics import (
    MODEL_ERRORS,
    RUN_SECONDS,
    RUNS_ENDED,
    RUNS_STARTED,
    TOKENS,
)
from llmsvc.agent_worker.model_stream import stream_reply
from llmsvc.agent_worker.run_outcomes import (
    LockLost,
    ModelUnavailable,
    ReplaceRefused,
    RunDeferred,
    RunEnded,
    RunFenced,
    run_error_body,
)
from llmsvc.agent_worker.titles import Titler
from llmsvc.agent_worker.transcript import (
    TurnTranscript,
    assistant_message_id,
    run_message_prefixes,
)
from llmsvc.common import subjects
from llmsvc.common.contracts.agent import EventType, MessageStatus, RunJob
from llmsvc.common.ids import utcnow
from llmsvc.common.logging import get_logger
from llmsvc.common.run_cancels import RunCancels
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.user_quotas import UserQuotas

log = get_logger(__name__)


#: Older checkpoints are pruned when a conversation's message count crosses a multiple
#: of this (about every 8 turns), so at most about that many turns' checkpoints are kept.
PRUNE_EVERY_MESSAGES = 16

Ending = tuple[EventType, dict[str, Any]]
CANCELLED: Ending = ("cancelled", {"reason": "cancelled by the user"})


def replaces_history(job: RunJob) -> bool:
    return job.regenerate or job.edit_message_id is not None


async def _quietly(close: Callable[[], Awaitable[object]]) -> None:
    with contextlib.suppress(Exception):
        await close()


class LockWatch:
    """Whether the run lost its conversation's lock to another run."""

    def __init__(self) -> None:
        self.lost = False


class CancelRequest:
    """A user's cancel for one run, which may arrive before its reply task exists."""

    def __init__(self) -> None:
        self.requested = False
        self.task: asyncio.Task[Any] | None = None

    async def on_message(self, _msg: Msg) -> None:
        self.requested = True
        if self.task is not None:
            self.task.cancel()


class RunExecutor:
    def __init__(
        self,
        *,
        nc: NATS,
        js: JetStreamContext,
        graph: AgentGraph,
        locks: RunLocks,
        cancels: RunCancels,
        quotas: UserQuotas,
        saver: BaseCheckpointSaver[Any],
        store: MessageStore,
        budget: ContextBudget,
        prune_checkpoints: bool,
        lock_renew_every_s: float,
        models: Mapping[str, ChatOpenAI],
        default_model: str,
        titler: Titler | None = None,
    ) -> None:
        self._models = models
        self._default_model = default_model
        self._titler = titler
        self._store = store
        self._budget = budget
        self._cancels = cancels
        self._quotas = quotas
        self._saver = saver
        self._prune_checkpoints = prune_checkpoints
        self._nc = nc
        self._js = js
        #: Swapped when MCP servers that were down come back (runs keep theirs).
        self.graph = graph
        self._locks = locks
        self._lock_renew_every_s = lock_renew_every_s

    async def execute(self, job: RunJob, *, first_delivery: bool = False) -> None:
        """Run `job` to a terminal event.

        Raises RunDeferred if another run holds the conversation, CancelledError if this
        worker is shutting down (the run is handed back, not ended), and any error that
        kept events from being stored; in those cases the job must not be acked.

        On a job's first delivery no worker can have published its events, so the
        lookup of the run's last event is skipped (fencing would still stop a second
        writer). The checks before the model is called run concurrently, and
        `metadata` is published while the model is already being asked.
        """
        started_at = time.perf_counter()
        previous = None if first_delivery else await last_event(self._js, job.run_id)
        if previous is not None and previous.event.terminal:
            log.info("run_already_finished", run_id=job.run_id)
            return
        RUNS_STARTED.inc()
        async with contextlib.AsyncExitStack() as scope:
            # Listen for a cancel before clients learn the run id from `metadata`: the
            # subscription reaches the server before the `metadata` publish on this
            # connection.
            cancel = CancelRequest()
            sub = await self._nc.subscribe(subjects.run_cancel(job.run_id), cb=cancel.on_message)
            scope.push_async_callback(_quietly, sub.unsubscribe)
            own_prefixes = run_message_prefixes(job.run_id)
            if job.completion is not None:
                own_prefixes += (new_message_prefix(job),)
            memory = TurnMemory(
                self._store,
                job.thread_id,
                self._budget,
                own_ids=(job.message_id,),
                own_prefixes=own_prefixes,
                owner=job.user_id,
            )
            scope.push_async_callback(memory.close)
            stateless = job.completion is not None and job.completion.stateless
            if not replaces_history(job) and not stateless:
                memory.prefetch()  # nothing this run does before its turn changes it
            _, cancelled_in_queue = await asyncio.gather(
                self._claim(job), self._cancels.requested_by(job.run_id, job.user_id)
            )
            cancel.requested = cancel.requested or cancelled_in_queue
            pub = RunEventPublisher(
                self._js,
                run_id=job.run_id,
                user_id=job.user_id,
                after=previous,
                started_at=started_at,
            )
            scope.push_async_callback(pub.close)
            if previous is None:
                opening: Ending = (
                    "metadata",
                    {
                        "run_id": job.run_id,
                        "session_id": job.session_id,
                        "thread_id": job.thread_id,
                    },
                )
            else:
                # Another worker started this run and died: clients drop the partial text.
                opening = ("reset", {"reason": "run restarted"})
            announce = pub.publish_first(*opening)
            try:
                ending = await self._run(job, pub, cancel, memory)
            except BaseException:
                announce.cancel()
                with contextlib.suppress(BaseException):
                    await announce
                raise
            await announce
            if pub.fenced:  # another worker runs it now; the lock and the ending are its own
                raise RunFenced(job.run_id)
            # Free the conversation before the terminal event: a client may send its next
            # message the moment it sees `done`. The checkpoint is already written.
            await self._release(job)
            await pub.publish(*ending)
        await self._count(job, ending)
        RUN_SECONDS.observe(time.perf_counter() - started_at)
        await self._prune(job, memory)
        if ending[0] == "done" and job.wants_title and self._titler is not None:
            span = memory.stored_span
            model = self._models.get(job.model or self._default_model)
            if span is not None and span[0] == 0 and model is not None:  # its first exchange
                self._titler.title_later(model, job, str(ending[1]["message"]["content"]))

    async def _prune(self, job: RunJob, memory: TurnMemory) -> None:
        """Drop the conversation's older checkpoints (CHECKPOINT_KEEP=latest) every few
        turns: each holds one turn, so a handful cost little, and pruning is four round
        trips to Mongo. Safe even if its next turn has begun: that turn holds its state
        in memory and the newest checkpoint stays."""
        if not self._prune_checkpoints:
            return
        span = memory.stored_span
        if span is not None and span[0] // PRUNE_EVERY_MESSAGES == span[1] // PRUNE_EVERY_MESSAGES:
            return
        try:
            await self._saver.aprune([job.thread_id], strategy="keep_latest")
        except Exception as exc:  # storage only; the reply is already delivered
            log.warning("checkpoint_prune_failed", thread_id=job.thread_id, error=repr(exc))

    async def fail(self, job: RunJob, body: dict[str, str]) -> None:
        """Last resort when a job cannot be run: end it with an `error` event anyway."""
        previous = await last_event(self._js, job.run_id)
        if previous is not None and previous.event.terminal:
            return
        pub = RunEventPublisher(self._js, run_id=job.run_id, user_id=job.user_id, after=previous)
        try:
            await pub.publish("error", body)
        finally:
            await pub.close()
            await self._release(job)
            await self._count(job, ("error", body))

    async def ended_elsewhere(self, job: RunJob) -> bool:
        """After this worker was fenced off the run: whether the run has ended anyway (a
        gateway withdrew it before this worker's first event, or a worker that took it
        over finished it). Then the conversation lock this worker may have re-taken for
        it is given back."""
        try:
            stored = await last_event(self._js, job.run_id)
        except Exception:
            return False
        if stored is None or not stored.event.terminal:
            return False
        await self._release(job)
        return True

    async def _count(self, job: RunJob, ending: Ending) -> None:
        """Take the finished run off its user's quota and add the tokens it used."""
        tokens = 0
        outcome, body = ending
        RUNS_ENDED.labels(outcome, str(body.get("code", "")) if outcome == "error" else "").inc()
        if outcome == "done":
            usage = body.get("usage") or {}
            input_tokens, output_tokens = (
                int(usage.get("input_tokens", 0)),
                int(usage.get("output_tokens", 0)),
            )
            TOKENS.labels("input").inc(input_tokens)
            TOKENS.labels("output").inc(output_tokens)
            tokens = input_tokens + output_tokens
        try:
            await self._quotas.run_ended(job.user_id, job.run_id, tokens=tokens)
        except Exception as exc:  # a stale entry is dropped when the user hits the limit
            log.warning("quota_update_failed", run_id=job.run_id, error=repr(exc))

    async def _claim(self, job: RunJob) -> None:
        """Hold the conversation's lock for this run (the gateway took it; it may have
        expired while the job waited in the queue)."""
        holder = await self._locks.holder(job.session_id)
        if holder == job.run_id:
            return
        if holder is not None or await self._locks.acquire(job.session_id, job.run_id):
            raise RunDeferred(f"conversation busy with run {holder}")

    async def _release(self, job: RunJob) -> None:
        try:
            await self._locks.release(job.session_id, job.run_id)
        except Exception as exc:  # it expires on its own
            log.warning("run_lock_release_failed", run_id=job.run_id, error=repr(exc))

    async def _run(
        self, job: RunJob, pub: RunEventPublisher, cancel: CancelRequest, memory: TurnMemory
    ) -> Ending:
        """Stream the reply; return the terminal event to publish."""
        if cancel.requested:
            return CANCELLED
        transcript = TurnTranscript(job.run_id, pub.token)
        turn: list[BaseMessage] | None  # the messages this turn starts with, if stored
        work: Coroutine[Any, Any, dict[str, Any]]
        if job.completion is None:
            try:
                question = await self._question(job, memory)
            except ReplaceRefused as exc:
                return ("error", exc.body)
            turn = [question]
            work = self._stream_reply(job, pub, question, memory, transcript)
        else:
            try:
                completion = CompletionTurn(job)
            except ValueError as exc:  # the gateway checks their shape; this is the rest
                message = f"the messages could not be read: {exc}"
                return ("error", {"code": "invalid_messages", "message": message[:500]})
            turn = completion.new if completion.stored else None
            work = self._stream_completion(completion, pub, memory, transcript)
        reply = asyncio.create_task(work)
        cancel.task = reply
        watch = LockWatch()
        renewer = asyncio.create_task(self._keep_lock(job, reply, watch))
        try:
            return ("done", await reply)
        except asyncio.CancelledError:
            if watch.lost:
                await self._keep_unfinished(memory, turn, transcript, "interrupted")
                return ("error", LockLost().body)
            if not cancel.requested:
                raise  # the worker is stopping: another one takes the run over
            await self._keep_unfinished(memory, turn, transcript, "interrupted")
            return CANCELLED
        except Exception as exc:
            body = run_error_body(exc)
            if body is None:
                raise  # not the model's or the run's failure: retried from the queue
            log.warning("run_failed", run_id=job.run_id, error=repr(exc))
            if not isinstance(exc, RunEnded):  # the model's (or the way to it) failure
                MODEL_ERRORS.labels(body["code"]).inc()
            status: MessageStatus = "interrupted" if transcript.produced_anything else "error"
            await self._keep_unfinished(memory, turn, transcript, status)
            return ("error", body)
        finally:
            renewer.cancel()

    async def _question(self, job: RunJob, memory: TurnMemory) -> HumanMessage:
        """The user message this run answers. For an edit or a regeneration, what it
        replaces leaves the conversation first (the run holds the conversation, so
        nothing else writes to it meanwhile); a retried job finds it done already."""
        question = HumanMessage(
            content=job.message,
            id=job.message_id,
            response_metadata={"created_at": job.created_at.isoformat()},
        )
        if job.regenerate:
            found = await self._store.last_question(job.thread_id)
            if found is None:
                raise ReplaceRefused(
                    "this conversation has no message yet", code="nothing_to_regenerate"
                )
            seq, stored = found
            await self._store.truncate(job.thread_id, from_seq=seq + 1)
            question = HumanMessage(
                content=stored.content, id=stored.id, response_metadata=stored.response_metadata
            )
            memory.reuse(str(stored.id))
        elif job.edit_message_id is not None:
            found = await self._store.find(job.thread_id, job.edit_message_id)
            if found is None or role_of(found[1]) != "user":
                if await self._store.find(job.thread_id, job.message_id) is None:
                    raise ReplaceRefused(
                        "no such user message in this conversation", code="message_not_found"
                    )
            else:
                await self._store.truncate(job.thread_id, from_seq=found[0])
        return question

    async def _keep_unfinished(
        self,
        memory: TurnMemory,
        turn: list[BaseMessage] | None,
        transcript: TurnTranscript,
        status: MessageStatus,
    ) -> None:
        """A run that ended early still leaves the user's message in history, with what
        the agent had produced, marked `status`: the next turn's model reads the same.
        `turn` is None for a run that stores nothing (a stateless completion)."""
        if turn is None:
            return
        messages = [*turn, *transcript.unfinished(status, created_at=utcnow().isoformat())]
        try:
            await memory.remember(messages)
        except Exception as exc:  # storage only; the run's ending is published anyway
            log.warning("unfinished_turn_store_failed", message_id=turn[0].id, error=repr(exc))

    async def _stream_completion(
        self,
        completion: CompletionTurn,
        pub: RunEventPublisher,
        memory: TurnMemory,
        transcript: TurnTranscript,
    ) -> dict[str, Any]:
        """One model call for the OpenAI-compatible API; its tool calls are the client's
        to run, so they end the run."""
        job = completion.job
        model = self._models.get(job.model or self._default_model)
        if model is None:
            raise ModelUnavailable(job.model or self._default_model)
        earlier = await memory.earlier() if completion.stored else []
        streamed = await stream_reply(
            model,
            completion.context(earlier),
            transcript.text,
            tools=completion.spec.tools,
            options=completion.model_options(),
        )
        reply = streamed.message(
            message_id=assistant_message_id(job.run_id), created_at=utcnow().isoformat()
        )
        transcript.add(reply)
        for call in reply.tool_calls:
            await pub.publish(
                "tool_call", {"id": call["id"], "name": call["name"], "args": call["args"]}
            )
        if completion.stored:
            await memory.remember([*completion.new, reply])
        usage: Mapping[str, Any] = reply.usage_metadata or {}
        return {
            "message": {
                "id": reply.id,
                "role": "assistant",
                "content": reply.text,
                "tool_calls": [
                    {"id": c["id"], "name": c["name"], "args": c["args"]} for c in reply.tool_calls
                ],
            },
            "usage": {
                "input_tokens": usage.get("input_tokens", 0),
                "output_tokens": usage.get("output_tokens", 0),
            },
            "finish_reason": "tool_calls"
            if reply.tool_calls
            else reply.response_metadata.get("finish_reason") or "stop",
        }

    async def _stream_reply(
        self,
        job: RunJob,
        pub: RunEventPublisher,
        question: HumanMessage,
        memory: TurnMemory,
        transcript: TurnTranscript,
    ) -> dict[str, Any]:
        config: RunnableConfig = {"configurable": {"thread_id": job.thread_id}}
        # The graph's state is this turn alone: the previous turn's is dropped and the
        # earlier turns come from the message store. One checkpoint per turn, written
        # when the graph finishes, instead of one per step: a run that dies midway is
        # re-run from its job (the question keeps its id, so it is never stored twice).
        # add_messages reads RemoveMessage as an update, which MessagesState does not type.
        drop_previous_turn = RemoveMessage(id=REMOVE_ALL_MESSAGES)
        turn: MessagesState = {"messages": [drop_previous_turn, question]}  # type: ignore[list-item]
        state = await self.graph.ainvoke(
            turn,
            config,
            context=RunContext(
                run_id=job.run_id,
                transcript=transcript,
                events=pub,
                memory=memory,
                model_id=job.model,
                instructions=job.instructions,
            ),
            durability="exit",
        )
        # Stored before `done` is published: history read after `done` includes them.
        await memory.remember(state["messages"])
        reply = state["messages"][-1]
        # Every model call of the turn counts (a tool loop makes several).
        calls: list[Any] = [
            m.usage_metadata or {} for m in state["messages"] if isinstance(m, AIMessage)
        ]
        return {
            "message": {"id": reply.id, "role": "assistant", "content": reply.text},
            "usage": {
                "input_tokens": sum(u.get("input_tokens", 0) for u in calls),
                "output_tokens": sum(u.get("output_tokens", 0) for u in calls),
            },
            "finish_reason": reply.response_metadata.get("finish_reason") or "stop",
        }

    async def _keep_lock(self, job: RunJob, reply: asyncio.Task[Any], watch: LockWatch) -> None:
        """Renew the conversation's lock while the reply streams. A renewal that fails
        (NATS away) is tried again next time: the lock lives four renewals. One that
        finds another run holding the conversation stops the reply."""
        while True:
            await asyncio.sleep(self._lock_renew_every_s)
            try:
                held = await self._locks.renew(job.session_id, job.run_id)
            except Exception as exc:
                log.warning("run_lock_renew_failed", run_id=job.run_id, error=repr(exc))
                continue
            if not held:
                log.warning("run_lock_lost", run_id=job.run_id, session_id=job.session_id)
                watch.lost = True
                reply.cancel()
                return


async def heartbeat(msg: Msg, every_s: float) -> None:
    """Tell JetStream the job is still being worked on, so it is not redelivered."""
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):
            await msg.in_progress()
