"""JetStream streams every service agrees on; creating them is idempotent."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from llmsvc.common import subjects


def agent_jobs_stream() -> StreamConfig:
    return StreamConfig(
        name=subjects.AGENT_JOBS_STREAM,
        subjects=[subjects.AGENT_JOBS_SUBJECT],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=120.0,
    )


def agent_events_stream(max_age_s: float) -> StreamConfig:
    return StreamConfig(
        name=subjects.AGENT_EVENTS_STREAM,
        subjects=[subjects.RUN_EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age_s,
        duplicate_window=min(120.0, max_age_s),
    )


def sessions_events_stream() -> StreamConfig:
    return StreamConfig(
        name=subjects.SESSIONS_EVENTS_STREAM,
        subjects=["sessions.v1.events.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=7 * 24 * 3600.0,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        # Exists with another config (e.g. a changed max_age): bring it in line.
        await js.update_stream(config)
