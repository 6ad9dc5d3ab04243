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


#: Consumers the run-events stream allows: one per open SSE stream on any gateway, plus
#: the ones of streams closed within RUN_EVENTS_CONSUMER_IDLE_S. nats-server 2.15 caps a
#: stream at 1,000 consumers unless the stream sets its own limit (and "unlimited" can no
#: longer be asked for), which would refuse the 1,001st open stream.
RUN_EVENTS_MAX_CONSUMERS = 200_000
#: A run-events consumer that nobody listens to any more is deleted by the server after
#: this long (a gateway's consumer lives as long as its client's stream).
RUN_EVENTS_CONSUMER_IDLE_S = 10.0


def agent_events_stream(max_age_s: float) -> StreamConfig:
    return StreamConfig(
        name=subjects.AGENT_EVENTS_STREAM,
        subjects=[subjects.RUN_EVENTS_WILDCARD],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=max_age_s,
        duplicate_window=min(120.0, max_age_s),
        max_consumers=RUN_EVENTS_MAX_CONSUMERS,
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
