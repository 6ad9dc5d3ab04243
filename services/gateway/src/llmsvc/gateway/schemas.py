"""HTTP bodies the gateway accepts (beyond the shared NATS contracts it reuses)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from llmsvc.common.contracts.sessions import Instructions, Session, SessionName
from llmsvc.common.models import ModelId

MessageText = Annotated[str, StringConstraints(min_length=1, max_length=32_000)]
SessionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]


class ConversationBody(Body):
    message: MessageText
    session_id: SessionId | None = None
    stream: bool = True
    #: Replace this user message of the conversation (and everything after it) with
    #: `message`, then answer it.
    edit_message_id: MessageId | None = None

    @model_validator(mode="after")
    def _edit_needs_its_conversation(self) -> ConversationBody:
        if self.edit_message_id is not None and self.session_id is None:
            raise ValueError("edit_message_id needs the session_id of its conversation")
        return self


class RegenerateBody(Body):
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


class SessionView(Session):
    #: The run answering in this conversation now, if any.
    active_run_id: str | None = None


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


#: An id in a URL path (sessions, runs, API keys): what `new_id` makes, and nothing that
#: could mean something else to NATS or Mongo.
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
