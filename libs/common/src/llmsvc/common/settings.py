"""Settings base shared by every service.

One settings object per service, built at start-up and passed in; nothing reads the
environment at import time. Values come from the environment, then `.env` if present.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmsvc.common.tokens import TokenAudience
from llmsvc.common.user_quotas import QuotaLimits

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret"})

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    # An empty variable (e.g. `OPENAI_API_KEY=` copied from .env.example) means "unset".
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, env_ignore_empty=True
    )

    environment: Environment = Field(
        "development", validation_alias=AliasChoices("ENVIRONMENT", "APP_ENV")
    )
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "INFO"
    log_json: bool = False


def comma_separated(value: object) -> object:
    """A list setting written `a,b,c` in the environment (a `NoDecode` field's
    before-validator); anything else is left to pydantic."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class MongoSettings(ServiceSettings):
    mongo_uri: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    #: Optional prefix for database names, so several deployments (or test runs) can
    #: share one server: database `auth` becomes `<MONGO_DB>_auth`.
    mongo_db: str = ""

    def database_name(self, service_db: str) -> str:
        return f"{self.mongo_db}_{service_db}" if self.mongo_db else service_db


class QuotaSettings(ServiceSettings):
    """Per-user limits (0: none), enforced across every gateway (see `user_quotas`)."""

    max_active_runs_per_user: int = Field(4, ge=0)
    runs_per_minute_per_user: int = Field(30, ge=0)
    #: Model tokens (prompt and completion) per UTC day, as the model reports them.
    tokens_per_day_per_user: int = Field(1_000_000, ge=0)
    conversations_per_hour_per_user: int = Field(100, ge=0)

    @property
    def quota_limits(self) -> QuotaLimits:
        return QuotaLimits(
            active_runs=self.max_active_runs_per_user,
            runs_per_minute=self.runs_per_minute_per_user,
            tokens_per_day=self.tokens_per_day_per_user,
            conversations_per_hour=self.conversations_per_hour_per_user,
        )


class TokenSettings(ServiceSettings):
    """What auth and every gateway agree on about access tokens (see `tokens`)."""

    #: The `iss` and `aud` every access token carries and every gateway requires.
    jwt_issuer: str = "llmsvc-auth"
    jwt_audience: str = "llmsvc-api"
    #: Clock skew tolerated between auth and a gateway when checking `exp`.
    jwt_leeway_s: int = Field(30, ge=0, le=300)
    access_token_ttl_s: int = Field(900, ge=30, le=86_400)
    #: How long a gateway remembers whose an API key is before asking auth again (a
    #: revocation reaches every gateway at once regardless).
    api_key_cache_s: int = Field(300, ge=0, le=3600)

    @property
    def token_audience(self) -> TokenAudience:
        return TokenAudience(issuer=self.jwt_issuer, audience=self.jwt_audience)
