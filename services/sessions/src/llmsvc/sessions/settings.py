"""Configuration of the sessions service, from the environment (see docs/design.md §6)."""

from __future__ import annotations

from pydantic import Field

from llmsvc.common.settings import MongoSettings

__all__ = ["SessionsSettings"]


class SessionsSettings(MongoSettings):
    """`NATS_URL`, `MONGO_URI`, `MONGO_DB`, `MAX_CONCURRENCY`, `PUBLISH_TIMEOUT_S`,
    `LOG_LEVEL`, `LOG_JSON`, `ENVIRONMENT`."""

    #: Requests in flight per subject on one replica.
    max_concurrency: int = Field(32, ge=1, le=1024)
    #: How long a deletion waits for JetStream to store its announcement.
    publish_timeout_s: float = Field(5.0, gt=0, le=60)

    @property
    def database(self) -> str:
        return self.database_name("sessions")
