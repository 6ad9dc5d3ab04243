from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from llmsvc.common.contracts.base import Contract
from llmsvc.common.models import ModelId

SessionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
#: A conversation's instructions to the model (its system prompt); empty for none.
Instructions = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
DEFAULT_SESSION_NAME = "New conversation"
#: Who named the conversation: its owner, the automatic title after the first exchange,
#: or nobody yet (the default name).
TitleSource = Literal["user", "auto", "default"]


class Session(Contract):
    session_id: str
    thread_id: str
    user_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    #: The model this conversation talks to (an id of the operator's `MODELS`); None for
    #: the default one.
    model: str | None = None
    instructions: str = ""
    title_source: TitleSource = "default"


class CreateSession(Contract):
    user_id: str
    name: SessionName | None = None
    model: ModelId | None = None
    instructions: Instructions = ""
    #: Who chose `name`: the user by default when a name is given; `default` for a
    #: provisional name that the automatic title may replace.
    title_source: TitleSource | None = None


class GetSession(Contract):
    user_id: str
    session_id: str


#: A search of conversation names: words that must all appear, in any case.
SessionQuery = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class ListSessions(Contract):
    user_id: str
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None
    #: Only conversations whose name contains every word of `query` (case-insensitive).
    query: SessionQuery = ""


class SessionPage(Contract):
    sessions: list[Session]
    next_cursor: str | None = None


class UpdateSession(Contract):
    """Change what is given; a name given here is the user's (`title_source: user`)."""

    user_id: str
    session_id: str
    name: SessionName | None = None
    model: ModelId | None = None
    instructions: Instructions | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateSession:
        if self.name is None and self.model is None and self.instructions is None:
            raise ValueError("give at least one of name, model, instructions")
        return self


class SetAutoTitle(Contract):
    """The automatic title, taken only while nobody has named the conversation."""

    user_id: str
    session_id: str
    title: SessionName


class DeleteSession(Contract):
    user_id: str
    session_id: str


class TouchSession(Contract):
    user_id: str
    session_id: str


class SessionUpdated(Contract):
    """Told to every gateway (core NATS, best effort) so cached sessions follow."""

    session: Session


class SessionDeleted(Contract):
    """Announced on JetStream so checkpoints go even if no worker is up right now."""

    session_id: str
    thread_id: str
    user_id: str
