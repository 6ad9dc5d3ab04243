from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class HealthRequest(Contract):
    """Is the service able to serve (its database reachable)? Answered `{"ok": true}`
    or with 503 `storage_unavailable`."""
