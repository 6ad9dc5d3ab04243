"""A request that waits for its run's reply (`stream: false`): the `done` data, or how
the run failed as an HTTP error."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llmsvc.common.errors import Conflict, NotFound, ServiceError, Unavailable

if TYPE_CHECKING:
    from llmsvc.gateway.runs import RunEvents

__all__ = ["BadGateway", "GatewayTimeout", "run_error", "wait_for_reply"]


class BadGateway(ServiceError):
    status = 502


class GatewayTimeout(ServiceError):
    status = 504


def run_error(data: dict[str, Any]) -> ServiceError:
    """A failed run's `error` event as the HTTP error of a `stream: false` request."""
    code = str(data.get("code", "run_failed"))
    message = str(data.get("message", "the run failed"))
    if code in ("model_rate_limited", "no_worker"):
        return Unavailable(message, code=code)
    if code == "model_timeout":
        return GatewayTimeout(message, code=code)
    if code in ("run_active", "nothing_to_regenerate"):
        return Conflict(message, code=code)
    if code == "message_not_found":
        return NotFound(message, code=code)
    return BadGateway(message, code=code)


async def wait_for_reply(events: RunEvents, *, timeout_s: float) -> dict[str, Any]:
    """Follow `events` to the run's end and return its `done` data; a failed or
    cancelled run is raised as its HTTP error, one that outlasts `timeout_s` as 503
    `run_timeout`. Closes `events`."""
    try:
        async with asyncio.timeout(timeout_s):
            async for event in events.follow():
                if event is None:
                    continue
                if event.type == "done":
                    return event.data
                if event.type == "error":
                    raise run_error(event.data)
                if event.type == "cancelled":
                    raise Conflict("the run was cancelled", code="run_cancelled")
    except TimeoutError as exc:
        raise Unavailable("the reply did not finish in time", code="run_timeout") from exc
    finally:
        await events.close()
    raise Unavailable("the run ended without a reply", code="run_failed")
