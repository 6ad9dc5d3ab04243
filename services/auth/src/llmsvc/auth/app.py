"""The auth service as a FastStream app: `create_app(settings)`, resources in a lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import FastStream
from faststream.nats import NatsBroker
from pymongo import AsyncMongoClient

from llmsvc.auth.api_keys import ApiKeyRepository, ApiKeyService
from llmsvc.auth.handlers import register_handlers
from llmsvc.auth.limits import AbuseLimits
from llmsvc.auth.repository import AuthSessionRepository, Document, UserRepository
from llmsvc.auth.security import PasswordHasher
from llmsvc.auth.service import AuthService
from llmsvc.auth.settings import AuthSettings
from llmsvc.auth.signing_keys import SigningKeys
from llmsvc.common.broker_middlewares import broker_middlewares
from llmsvc.common.errors import Unavailable
from llmsvc.common.logging import get_logger
from llmsvc.common.metrics import serve_metrics
from llmsvc.common.throttle import Throttle
from llmsvc.common.token_denylist import TokenDenylist

__all__ = ["create_app", "open_service"]

SERVICE_NAME = "llm-auth"

log = get_logger(__name__)


@asynccontextmanager
async def open_service(
    settings: AuthSettings,
    *,
    throttle: Throttle | None = None,
    denylist: TokenDenylist | None = None,
) -> AsyncIterator[AuthService]:
    """Connect to Mongo, create the indexes, and hand out a ready service."""
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongo_uri, tz_aware=True, appname=SERVICE_NAME
    )
    try:
        db = mongo[settings.database]
        users = UserRepository(db["users"])
        sessions = AuthSessionRepository(db["auth_sessions"])
        await users.setup()
        await sessions.setup()
        signing_keys = SigningKeys(
            db["signing_keys"],
            rotation_s=settings.jwt_key_rotation_s,
            audience=settings.token_audience,
            passphrase=settings.key_passphrase,
        )
        await signing_keys.signer()  # a wrong passphrase fails here, at start-up
        api_keys = ApiKeyRepository(db["api_keys"])
        await api_keys.setup()
        passwords = await PasswordHasher.create(concurrency=settings.hash_concurrency)
        yield AuthService(
            users=users,
            sessions=sessions,
            passwords=passwords,
            settings=settings,
            signing_keys=signing_keys,
            limits=AbuseLimits(throttle, settings) if throttle is not None else None,
            denylist=denylist,
            api_keys=ApiKeyService(
                api_keys,
                max_per_user=settings.max_api_keys_per_user,
                revocation_ttl_s=settings.api_key_cache_s + 60,
                denylist=denylist,
            ),
        )
    finally:
        await mongo.close()


def create_app(settings: AuthSettings) -> FastStream:
    broker = NatsBroker(
        settings.nats_url,
        name=SERVICE_NAME,
        # Keep trying for as long as we run: NATS may start after us or restart.
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        logger=logging.getLogger("llmsvc.auth.broker"),
        # One line per message is too much at INFO in production.
        log_level=logging.DEBUG,
        middlewares=broker_middlewares("auth"),
        **settings.nats_identity("auth").broker_options(),
    )
    current: list[AuthService] = []

    def service() -> AuthService:
        if not current:
            raise Unavailable("auth service is starting or stopping")
        return current[0]

    register_handlers(broker, service, max_workers=settings.max_concurrency)

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        # Connected before the subscriptions start: the limits' bucket must exist.
        nc = await broker.connect()
        js = nc.jetstream()
        throttle = await Throttle.open(js, namespace=settings.mongo_db)
        # Written to, not watched: gateways follow it.
        denylist = await TokenDenylist.open(js)
        async with open_service(settings, throttle=throttle, denylist=denylist) as svc:
            current.append(svc)
            metrics = serve_metrics(settings.metrics_host, settings.separate_metrics_port)
            log.info("auth_ready", database=settings.database)
            try:
                yield
            finally:
                current.clear()
                if metrics is not None:
                    metrics.shutdown()

    return FastStream(broker, lifespan=lifespan, logger=logging.getLogger("llmsvc.auth.app"))
