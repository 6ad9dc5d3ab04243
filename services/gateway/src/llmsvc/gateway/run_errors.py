"""How a run that failed answers a request that waited for its reply (`stream: false`)."""

from __future__ import annotations

from typing import Any

from llmsvc.common.errors import Conflict, NotFound, ServiceError, Unavailable

__all__ = ["BadGateway", "GatewayTimeout", "run_error"]


class BadGateway(ServiceError):
    status = 502


class GatewayTimeout(ServiceError):
    status = 504


def run_error(data: dict[str, Any]) -> ServiceError:
    """A failed run's `error` event as the HTTP error of a `stream: false` request."""
    code = str(data.get("code", "run_failed"))
    message = str(data.get("message", "the run failed"))
    if code == "model_rate_limited":
        return Unavailable(message, code=code)
    if code == "model_timeout":
        return GatewayTimeout(message, code=code)
    if code in ("run_active", "nothing_to_regenerate"):
        return Conflict(message, code=code)
    if code == "message_not_found":
        return NotFound(message, code=code)
    return BadGateway(message, code=code)
