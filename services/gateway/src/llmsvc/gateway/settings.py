from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode

from llmsvc.common.models import ModelSettings
from llmsvc.common.settings import (
    QuotaSettings,
    TokenSettings,
    comma_separated,
)


class GatewaySettings(TokenSettings, QuotaSettings, ModelSettings):
    #: The deployment's name prefix (the services' `MONGO_DB`): it keeps the quotas of
    #: deployments that share one NATS apart. The gateway never connects to Mongo.
    mongo_db: str = ""
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("GATEWAY_HOST", "HOST"))
    port: int = Field(8000, validation_alias=AliasChoices("GATEWAY_PORT", "PORT"))
    #: How long a run's events stay replayable (must match the workers').
    run_events_ttl_s: float = Field(3600.0, ge=60)
    #: TTL of the one-active-run-per-conversation lock; workers renew it while running.
    run_lock_ttl_s: int = Field(120, ge=10)
    #: Timeout of a request to auth, sessions or a worker over NATS.
    rpc_timeout_s: float = Field(10.0, gt=0)
    #: A comment line is sent this often on an idle event stream.
    sse_ping_s: float = Field(15.0, gt=0)
    #: Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names
    #: the client; without any, the connection's peer is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    #: Serve `/docs` and `/openapi.json` (unset: on, except in production).
    api_docs: bool | None = None
    #: Larger request bodies are refused with 413.
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    #: `stream: false` requests give up waiting for the reply after this long.
    blocking_reply_timeout_s: float = Field(300.0, gt=0)
    #: A run no worker has taken this long after it was queued ends with `error`
    #: `no_worker` and is withdrawn (0: wait for a worker for ever).
    run_start_timeout_s: float = Field(60.0, ge=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return comma_separated(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"
