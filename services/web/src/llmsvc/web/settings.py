"""Settings of the web service (environment variables, then `.env`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AliasChoices, Field, model_validator

from llmsvc.common.settings import PLACEHOLDER_SECRETS, ServiceSettings

__all__ = ["DEV_SESSION_SECRET", "WebSettings"]

DEV_SESSION_SECRET = "dev-only-insecure-web-session-secret-change-me"


class WebSettings(ServiceSettings):
    speaks_nats: ClassVar[bool] = False  # it talks to the gateway over HTTP only

    gateway_url: str = Field("http://127.0.0.1:8000", validation_alias=AliasChoices("GATEWAY_URL"))
    # WEB_HOST/WEB_PORT win over HOST/PORT so one shell can run every service.
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("WEB_HOST", "HOST"))
    port: int = Field(8080, ge=0, le=65535, validation_alias=AliasChoices("WEB_PORT", "PORT"))
    session_secret: str = Field(
        DEV_SESSION_SECRET,
        validation_alias=AliasChoices("WEB_SESSION_SECRET"),
    )
    #: Lifetime of the browser cookie; the gateway's refresh token bounds it too.
    session_max_age_s: int = Field(
        14 * 86_400,
        ge=60,
        validation_alias=AliasChoices("WEB_SESSION_MAX_AGE_S"),
    )
    #: Read timeout towards the gateway; longer than its 15 s SSE ping interval.
    gateway_timeout_s: float = Field(30.0, gt=0, validation_alias=AliasChoices("GATEWAY_TIMEOUT_S"))
    #: Each open chat stream holds one upstream connection.
    gateway_max_connections: int = Field(
        1000,
        ge=1,
        validation_alias=AliasChoices("GATEWAY_MAX_CONNECTIONS"),
    )

    @property
    def cookie_secure(self) -> bool:
        return self.environment not in ("development", "test")

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> WebSettings:
        secret = self.session_secret
        if self.environment == "production" and (
            secret.lower() in PLACEHOLDER_SECRETS
            or secret == DEV_SESSION_SECRET
            or len(secret) < 32
        ):
            raise ValueError(
                "WEB_SESSION_SECRET must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        return self
