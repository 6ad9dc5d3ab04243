"""A stored message as the history API shows it."""

from __future__ import annotations

from datetime import datetime

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from llmsvc.common.contracts.agent import HistoryMessage

_ROLES: tuple[tuple[type[BaseMessage], str], ...] = (
    (HumanMessage, "user"),
    (AIMessage, "assistant"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
)
#: Roles shown in a conversation's history (tool traffic is the agent's own business).
VISIBLE_ROLES = ("user", "assistant", "system")


def role_of(message: BaseMessage) -> str:
    return next((role for cls, role in _ROLES if isinstance(message, cls)), message.type)


def to_history_message(message: BaseMessage) -> HistoryMessage | None:
    role = role_of(message)
    if role not in VISIBLE_ROLES or message.id is None:
        return None  # tool calls and the like are not part of the visible conversation
    created = message.response_metadata.get("created_at")
    return HistoryMessage(
        id=message.id,
        role=role,
        content=message.text,
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
    )
