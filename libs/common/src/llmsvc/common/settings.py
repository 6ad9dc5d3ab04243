"""Settings base shared by every service.

One settings object per service, built at start-up and passed in; nothing reads the
environment at import time. Values come from the environment, then `.env` if present.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "secret", "dev-only-insecure-jwt-secret-change-me"}
)
DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"

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


class JwtSettings(ServiceSettings):
    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = "HS256"
    access_token_ttl_s: int = Field(900, ge=30, le=86_400)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> JwtSettings:
        if self.environment == "production" and (
            self.jwt_secret.lower() in PLACEHOLDER_SECRETS or len(self.jwt_secret) < 32
        ):
            raise ValueError(
                "JWT_SECRET must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        return self
