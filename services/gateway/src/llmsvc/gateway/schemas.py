"""HTTP bodies the gateway accepts (beyond the shared NATS contracts it reuses)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from llmsvc.common.contracts.sessions import Instructions, SessionName
from llmsvc.common.models import ModelId

MessageText = Annotated[str, StringConstraints(min_length=1, max_length=32_000)]
SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationBody(Body):
    message: MessageText
    session_id: SessionId | None = None
    stream: bool = True


class CreateSessionBody(Body):
    name: SessionName | None = None
    #: An id from `GET /models`; the default model when left out.
    model: ModelId | None = None
    #: The conversation's system prompt.
    instructions: Instructions = ""


class UpdateSessionBody(Body):
    name: SessionName | None = None
    model: ModelId | None = None
    instructions: Instructions | None = None


class ModelCard(BaseModel):
    id: str
    name: str
    default: bool


class ModelList(BaseModel):
    models: list[ModelCard]


class LogoutBody(Body):
    refresh_token: str | None = None


class ConversationReply(BaseModel):
    session_id: str
    run_id: str
    message: dict[str, Any]
    usage: dict[str, Any]
