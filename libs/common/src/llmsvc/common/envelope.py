"""The reply envelope every request/reply subject answers with (docs/design.md §3)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from llmsvc.common.errors import ServiceError, error_from_reply


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    status: int


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ok: bool
    data: Any = None
    error: ErrorBody | None = None

    def unwrap(self) -> Any:
        """Return `data`, or raise the typed error the envelope carries."""
        if self.ok:
            return self.data
        if self.error is None:
            raise ServiceError("reply carried neither data nor error")
        extra = {k: v for k, v in (self.error.model_extra or {}).items()}
        raise error_from_reply(self.error.code, self.error.message, self.error.status, **extra)


def ok(data: Any) -> dict[str, Any]:
    return {"ok": True, "data": data}


def fail(err: ServiceError) -> dict[str, Any]:
    return {"ok": False, "error": {**err.to_body(), "status": err.status}}
