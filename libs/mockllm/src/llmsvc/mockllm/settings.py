"""mockllm settings: `MOCKLLM_*` environment variables, built once at start-up.

No `.env` file is read: a service's `.env` (with its own `PORT`) must not move the mock.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmsvc.mockllm.directives import (
    MAX_REPLY_TOKENS,
    MAX_TOKENS_PER_S,
    MAX_TTFT_MS,
    Behaviour,
    FailMode,
    parse_fail,
)


class MockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOCKLLM_", extra="ignore", validate_by_name=True)

    # MOCKLLM_HOST/PORT first, so a process manager's generic PORT does not win.
    host: str = Field("127.0.0.1", validation_alias=AliasChoices("MOCKLLM_HOST", "HOST"))
    port: int = Field(8100, ge=0, le=65535, validation_alias=AliasChoices("MOCKLLM_PORT", "PORT"))
    model: str = Field("mock-model", min_length=1)
    ttft_ms: float = Field(0.0, ge=0, le=MAX_TTFT_MS)
    tokens_per_s: float = Field(0.0, ge=0, le=MAX_TOKENS_PER_S)
    reply_tokens: int = Field(0, ge=0, le=MAX_REPLY_TOKENS)
    fail: FailMode | None = None
    workers: int = Field(1, ge=1, le=64)
    #: Seconds uvicorn waits for open streams (a stalled one never ends) at shutdown.
    shutdown_grace_s: int = Field(3, ge=0)

    @field_validator("fail", mode="before")
    @classmethod
    def _fail_none(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_fail(value, param="MOCKLLM_FAIL")
        return value

    def behaviour(self) -> Behaviour:
        return Behaviour(
            ttft_ms=self.ttft_ms,
            tokens_per_s=self.tokens_per_s,
            reply_tokens=self.reply_tokens,
            fail=self.fail,
        )
