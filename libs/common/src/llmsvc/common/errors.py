"""Domain errors shared by every service.

Services raise these; one renderer per service turns them into a reply envelope
(NATS) or an HTTP response (gateway), so no handler builds error bodies by hand.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "ServiceError",
    "Unauthorized",
    "Unavailable",
    "ValidationFailed",
]


class ServiceError(Exception):
    """Base of every error that crosses a service boundary."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.code
        self.extra: dict[str, Any] = extra

    def to_body(self) -> dict[str, Any]:
        return {"code": self.error_code, "message": self.message, **self.extra}


class BadRequest(ServiceError):
    code = "bad_request"
    status = 400


class ValidationFailed(ServiceError):
    code = "validation_error"
    status = 422


class Unauthorized(ServiceError):
    code = "unauthorized"
    status = 401


class Forbidden(ServiceError):
    code = "forbidden"
    status = 403


class NotFound(ServiceError):
    code = "not_found"
    status = 404


class Conflict(ServiceError):
    code = "conflict"
    status = 409


class Unavailable(ServiceError):
    code = "service_unavailable"
    status = 503


_BY_STATUS: dict[int, type[ServiceError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        ValidationFailed,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        Unavailable,
    )
}


class RateLimited(ServiceError):
    """Too many requests: answered 429 with `Retry-After` (and `retry_after_s` in the
    body)."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code, retry_after_s=max(1, int(retry_after_s)))


def error_from_reply(code: str, message: str, status: int, **extra: Any) -> ServiceError:
    """Rebuild a typed error from a reply envelope's error part."""
    if status == 429:
        return RateLimited(message, code=code, retry_after_s=int(extra.get("retry_after_s") or 1))
    cls = _BY_STATUS.get(status, ServiceError)
    err = cls(message, code=code, **extra)
    if cls is ServiceError:
        err.status = status  # type: ignore[misc]
    return err
