"""Deleting a conversation's messages and checkpoints once its session is deleted.

Durable on JetStream, so a deletion announced while every worker is down is still
carried out when one comes back."""

from __future__ import annotations

import asyncio

from langgraph.checkpoint.base import BaseCheckpointSaver
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from pydantic import ValidationError

from llmsvc.agent_worker.message_store import MessageStore
from llmsvc.common import subjects
from llmsvc.common.contracts.sessions import SessionDeleted
from llmsvc.common.logging import get_logger
from llmsvc.common.run_lock import RunLocks

log = get_logger(__name__)


async def run_cleanup(
    js: JetStreamContext,
    saver: BaseCheckpointSaver[str],
    store: MessageStore,
    locks: RunLocks,
) -> None:
    sub = await js.pull_subscribe(
        subjects.SESSIONS_DELETED,
        durable=subjects.AGENT_SESSION_CLEANUP_CONSUMER,
        stream=subjects.SESSIONS_EVENTS_STREAM,
        config=ConsumerConfig(
            durable_name=subjects.AGENT_SESSION_CLEANUP_CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=60,
            # Deferred while a run is active (see below), which can take a while.
            max_deliver=-1,
        ),
    )
    while True:
        try:
            msgs = await sub.fetch(16, timeout=5)
        except NatsTimeoutError:
            continue
        except Exception:
            log.exception("cleanup_fetch_failed")
            await asyncio.sleep(1)
            continue
        for msg in msgs:
            try:
                event = SessionDeleted.model_validate_json(msg.data)
            except ValidationError:
                await msg.term()
                continue
            if await locks.holder(event.session_id) is not None:
                # A run of this conversation is active or queued: it stores its messages
                # when it ends, so delete after that, or they would outlive the session.
                await msg.nak(delay=2)
                continue
            try:
                await store.delete_thread(event.thread_id)
                await saver.adelete_thread(event.thread_id)
            except Exception:
                log.exception("checkpoint_delete_failed", thread_id=event.thread_id)
                await msg.nak(delay=5)
                continue
            log.info("conversation_deleted", thread_id=event.thread_id)
            await msg.ack()
