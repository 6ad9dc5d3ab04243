"""Settings base shared by every service.

One settings object per service, built at start-up and passed in; nothing reads the
environment at import time. Values come from the environment, then `.env` if present.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmsvc.common.broker_permissions import inbox_prefix
from llmsvc.common.nats_identity import NatsIdentity
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
    #: This service's NATS identity, an NKey user seed (`SU...`): inline, or in a file
    #: (a mounted secret). Required in production by every service that speaks NATS.
    nats_nkey_seed: SecretStr | None = None
    nats_nkey_seed_file: Path | None = None
    #: TLS to NATS: the CA that signed the server's certificate, and optionally this
    #: service's client certificate and key (when the server verifies clients).
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    log_level: str = "INFO"
    log_json: bool = False
    #: Prometheus `/metrics` on this port, apart from any public listener (unset: 9464
    #: in production; elsewhere none, except on gateway's and web's own listener).
    metrics_host: str = "0.0.0.0"  # noqa: S104 - an internal port, scraped from outside
    metrics_port: int | None = Field(None, ge=1, le=65535)

    #: Whether this service connects to NATS (web does not).
    speaks_nats: ClassVar[bool] = True

    @model_validator(mode="after")
    def _require_nats_identity(self) -> ServiceSettings:
        if not self.speaks_nats:
            return self
        if self.environment == "production" and not (
            self.nats_nkey_seed or self.nats_nkey_seed_file
        ):
            raise ValueError(
                "NATS_NKEY_SEED or NATS_NKEY_SEED_FILE must be set when ENVIRONMENT=production:"
                " every service connects to NATS with its own identity"
            )
        if (self.nats_tls_cert is None) != (self.nats_tls_key is None):
            raise ValueError("NATS_TLS_CERT and NATS_TLS_KEY go together")
        return self

    @property
    def separate_metrics_port(self) -> int | None:
        if self.metrics_port is not None:
            return self.metrics_port
        return 9464 if self.environment == "production" else None

    def nats_identity(self, service: str) -> NatsIdentity:
        """How `service` connects to NATS: its seed, its inbox prefix, TLS."""
        seed = self.nats_nkey_seed.get_secret_value() if self.nats_nkey_seed else None
        if seed is None and self.nats_nkey_seed_file is not None:
            seed = self.nats_nkey_seed_file.read_text().strip()
        return NatsIdentity(
            seed=seed,
            inbox_prefix=inbox_prefix(service),
            tls_ca=self.nats_tls_ca,
            tls_cert=self.nats_tls_cert,
            tls_key=self.nats_tls_key,
        )


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
