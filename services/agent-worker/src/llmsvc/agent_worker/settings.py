from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator
from pydantic_settings import NoDecode

from llmsvc.common.models import ModelSettings, ModelSpec
from llmsvc.common.settings import MongoSettings, comma_separated


class McpServer(BaseModel):
    """One entry of `MCP_SERVERS` (a JSON object: name → this)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = {}
    #: Timeout of one HTTP request to the server, in seconds.
    timeout_s: float = Field(30.0, gt=0)


#: Part of each tool's name, which OpenAI limits to letters, digits, `_` and `-`.
McpServerName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,24}$")]


class WorkerSettings(MongoSettings, ModelSettings):
    #: Any OpenAI-compatible endpoint; unset means api.openai.com. A model of `MODELS`
    #: may name its own.
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    model_timeout_s: float = Field(120.0, gt=0)
    #: Retries of a model request that failed before its first token (429 after its
    #: Retry-After, 5xx, connection errors and timeouts), with exponential backoff; a
    #: reply that fails mid-stream is not retried (its text is already out).
    model_max_retries: int = Field(2, ge=0, le=5)
    #: Cap on a reply's length; small local models can otherwise ramble until their
    #: context is full, and an unbounded reply is unbounded spending (OWASP LLM10).
    model_max_tokens: int | None = Field(4096, ge=1)

    #: Built-in tools the agent may call, comma-separated; `none` for none
    #: (an empty variable counts as unset, like every other).
    tools: Annotated[list[str], NoDecode] = ["current_time", "calculator"]
    #: MCP servers whose tools the agent may call, JSON: name → {url, headers?,
    #: timeout_s?} (streamable HTTP). Their tools are named `<name>_<tool>`.
    mcp_servers: dict[McpServerName, McpServer] = {}
    #: How often a server that was down is tried again.
    mcp_retry_s: float = Field(30.0, gt=0)
    #: Model calls in one turn; a model still asking for tools after this many ends
    #: the run with an `error` (`tool_step_limit`).
    agent_max_steps: int = Field(8, ge=1, le=100)
    #: One tool call taking longer than this gives the model a tool error.
    tool_timeout_s: float = Field(30.0, gt=0)

    #: `/healthz` and `/readyz` on this port (unset: no health server).
    health_host: str = "127.0.0.1"
    health_port: int | None = Field(None, ge=0, le=65535)

    #: Runs this worker executes at once; more wait in JetStream for another worker.
    worker_concurrency: int = Field(64, ge=1, le=1024)
    #: How long a run's events stay replayable for resuming clients.
    run_events_ttl_s: float = Field(3600.0, ge=60)
    #: A job whose worker stops heart-beating is redelivered after this long.
    job_ack_wait_s: float = Field(30.0, ge=5)
    job_max_deliver: int = Field(3, ge=1, le=20)
    #: A job first taken longer than this after it was queued is not run: it ends with
    #: `error` `no_worker`, as its gateway told the client (0: run it however late).
    run_start_timeout_s: float = Field(60.0, ge=0)
    #: Time-to-live of the "one active run per conversation" lock; renewed while running.
    run_lock_ttl_s: int = Field(120, ge=10)

    #: The model's context: the newest earlier messages of the conversation that fit in
    #: this many tokens (langchain-core's approximate count) go with each new message;
    #: older ones stay in history but are not sent. Leave room for the reply within the
    #: model's context window.
    context_max_tokens: int = Field(16000, ge=256)
    #: And at most this many earlier messages, whatever their size.
    context_max_messages: int = Field(200, ge=2, le=10000)

    #: "latest" prunes a conversation's older checkpoints every few turns (each holds
    #: one turn); "all" keeps them, e.g. for time travel.
    checkpoint_keep: Literal["latest", "all"] = "latest"

    #: LangSmith tracing; LangChain reads these from the process environment.
    langsmith_tracing: bool = False
    langsmith_api_key: SecretStr | None = None
    langsmith_project: str | None = None

    @field_validator("tools", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        names = comma_separated(value)
        return [] if names == ["none"] else names

    def export_tracing_env(self) -> None:
        """Make .env-provided LangSmith settings visible to LangChain."""
        import os

        if not self.langsmith_tracing:
            return
        os.environ["LANGSMITH_TRACING"] = "true"
        if self.langsmith_api_key is not None:
            os.environ["LANGSMITH_API_KEY"] = self.langsmith_api_key.get_secret_value()
        if self.langsmith_project:
            os.environ["LANGSMITH_PROJECT"] = self.langsmith_project

    def api_key_value(self, spec: ModelSpec | None = None) -> str:
        """The key for `spec` (from the variable its `api_key_env` names), else
        `OPENAI_API_KEY`."""
        import os

        if spec is not None and spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise ValueError(
                    f"model {spec.id!r} reads its API key from {spec.api_key_env}, which is unset"
                )
            return key
        if self.openai_api_key is not None:
            return self.openai_api_key.get_secret_value()
        # OpenAI-compatible local servers accept any key; the SDK insists on one.
        return "not-needed"
