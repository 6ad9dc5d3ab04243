from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from llmsvc.common.contracts.base import Contract

SessionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
DEFAULT_SESSION_NAME = "New conversation"


class Session(Contract):
    session_id: str
    thread_id: str
    user_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class CreateSession(Contract):
    user_id: str
    name: SessionName | None = None


class GetSession(Contract):
    user_id: str
    session_id: str


class ListSessions(Contract):
    user_id: str
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


class SessionPage(Contract):
    sessions: list[Session]
    next_cursor: str | None = None


class RenameSession(Contract):
    user_id: str
    session_id: str
    name: SessionName


class DeleteSession(Contract):
    user_id: str
    session_id: str


class TouchSession(Contract):
    user_id: str
    session_id: str


class SessionDeleted(Contract):
    """Announced on JetStream so checkpoints go even if no worker is up right now."""

    session_id: str
    thread_id: str
    user_id: str
