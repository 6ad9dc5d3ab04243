"""The sessions service as a FastStream app: `create_app(settings)`, resources in a
lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import FastStream
from faststream.nats import NatsBroker
from pymongo import AsyncMongoClient

from llmsvc.common.broker_middlewares import broker_middlewares
from llmsvc.common.errors import Unavailable
from llmsvc.common.logging import get_logger
from llmsvc.common.metrics import serve_metrics
from llmsvc.common.streams import ensure_stream, sessions_events_stream
from llmsvc.sessions.events import JetStreamAnnouncer, NatsUpdateNotifier
from llmsvc.sessions.flows import finish_unfinished_deletions
from llmsvc.sessions.handlers import register_handlers
from llmsvc.sessions.repository import Document, SessionRepository
from llmsvc.sessions.service import SessionService
from llmsvc.sessions.settings import SessionsSettings

__all__ = ["create_app"]

SERVICE_NAME = "llm-sessions"

log = get_logger(__name__)


def create_app(settings: SessionsSettings) -> FastStream:
    broker = NatsBroker(
        settings.nats_url,
        name=SERVICE_NAME,
        # Keep trying for as long as we run: NATS may start after us or restart.
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        logger=logging.getLogger("llmsvc.sessions.broker"),
        # One line per message is too much at INFO in production.
        log_level=logging.DEBUG,
        middlewares=broker_middlewares("sessions"),
        **settings.nats_identity("sessions").broker_options(),
    )
    current: list[SessionService] = []

    def service() -> SessionService:
        if not current:
            raise Unavailable("sessions service is starting or stopping")
        return current[0]

    register_handlers(broker, service, max_workers=settings.max_concurrency)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # Connected before the subscriptions start (the app does that after the
        # lifespan is entered): the stream must exist before the first deletion.
        nc = await broker.connect()
        mongo: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongo_uri, tz_aware=True, appname=SERVICE_NAME
        )
        try:
            try:
                js = nc.jetstream()
                await ensure_stream(js, sessions_events_stream())
                announcer = JetStreamAnnouncer(js, timeout_s=settings.publish_timeout_s)
                sessions = SessionRepository(mongo[settings.database]["sessions"])
                await sessions.setup()
                await finish_unfinished_deletions(sessions=sessions, announcer=announcer)
            except BaseException:
                # The app stops the broker only if it started it.
                await broker.stop()
                raise
            current.append(
                SessionService(
                    sessions=sessions, announcer=announcer, notifier=NatsUpdateNotifier(nc)
                )
            )
            metrics = serve_metrics(settings.metrics_host, settings.separate_metrics_port)
            log.info("sessions_ready", database=settings.database)
            try:
                yield
            finally:
                if metrics is not None:
                    metrics.shutdown()
        finally:
            current.clear()
            await mongo.close()

    return FastStream(broker, lifespan=lifespan, logger=logging.getLogger("llmsvc.sessions.app"))
