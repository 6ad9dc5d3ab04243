"""Connecting to NATS and request/reply with the shared envelope."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import BaseModel, ValidationError

from llmsvc.common.envelope import Envelope, fail, ok
from llmsvc.common.errors import ServiceError, Unavailable, ValidationFailed
from llmsvc.common.logging import get_logger
from llmsvc.common.nats_identity import NatsIdentity
from llmsvc.common.tracing import trace_headers

log = get_logger(__name__)

M = TypeVar("M", bound=BaseModel)


async def connect_nats(
    url: str,
    *,
    name: str,
    identity: NatsIdentity | None = None,
    connect_timeout_s: float = 30.0,
) -> NATS:
    """Connect as `identity`, retrying while the server is still starting (e.g. under
    `make dev`)."""
    options = (identity or NatsIdentity()).connect_options()
    deadline = asyncio.get_running_loop().time() + connect_timeout_s
    delay = 0.1
    while True:
        try:
            return await nats.connect(
                url,
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                connect_timeout=2,
                # Shutdown must not wait long for a server that is already gone.
                drain_timeout=5,
                **options,
            )
        except (OSError, nats.errors.NoServersError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.info("nats_not_ready", url=url, error=str(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def request(nc: NATS, subject: str, payload: BaseModel, *, timeout_s: float = 10.0) -> Any:
    """Send a request and return the reply's `data`, or raise the error it carries."""
    try:
        data = payload.model_dump_json().encode()
        msg = await nc.request(subject, data, timeout=timeout_s, headers=trace_headers())
    # The error says which kind of failure, never which subject or host: clients see it.
    except NoRespondersError as exc:
        log.warning("no_responders", subject=subject)
        raise Unavailable("service unavailable; try again", code="service_unavailable") from exc
    except NatsTimeoutError as exc:
        log.warning("request_timeout", subject=subject, timeout_s=timeout_s)
        raise Unavailable("service did not answer in time", code="service_timeout") from exc
    return Envelope.model_validate_json(msg.data).unwrap()


def validation_error(exc: ValidationError) -> ValidationFailed:
    fields = [
        {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return ValidationFailed("request is not valid", fields=fields)


async def handle_request(
    raw: bytes, model: type[M], handler: Callable[[M], Awaitable[BaseModel | dict[str, Any] | None]]
) -> dict[str, Any]:
    """Validate `raw`, run `handler`, and wrap its result (or error) in the envelope."""
    try:
        req = model.model_validate_json(raw)
    except ValidationError as exc:
        return fail(validation_error(exc))
    try:
        result = await handler(req)
    except ServiceError as exc:
        return fail(exc)
    except Exception:
        log.exception("handler_failed", model=model.__name__)
        return fail(ServiceError("internal error"))
    if isinstance(result, BaseModel):
        return ok(result.model_dump(mode="json"))
    return ok(result)
