"""A stored message as the history API shows it.

A turn that did not finish is kept as it ended: the assistant message carries
`response_metadata["status"]` (`interrupted` or `error`, see `MessageStatus`), set by the
run that stored it; a message without one is `complete`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from llmsvc.common.contracts.agent import HistoryMessage, MessageStatus, ToolCall

_ROLES: tuple[tuple[type[BaseMessage], str], ...] = (
    (HumanMessage, "user"),
    (AIMessage, "assistant"),
    (SystemMessage, "system"),
    (ToolMessage, "tool"),
)
#: Roles shown in a conversation's history.
VISIBLE_ROLES = ("user", "assistant", "system", "tool")
_STATUSES: tuple[MessageStatus, ...] = ("complete", "interrupted", "error")


def role_of(message: BaseMessage) -> str:
    return next((role for cls, role in _ROLES if isinstance(message, cls)), message.type)


def status_of(message: BaseMessage) -> MessageStatus:
    status = message.response_metadata.get("status")
    return next((s for s in _STATUSES if s == status), "complete")


def to_history_message(message: BaseMessage) -> HistoryMessage | None:
    role = role_of(message)
    if role not in VISIBLE_ROLES or message.id is None:
        return None
    created = message.response_metadata.get("created_at")
    extra: dict[str, Any] = {}
    if isinstance(message, AIMessage) and message.tool_calls:
        extra["tool_calls"] = [
            ToolCall(id=c["id"] or "", name=c["name"], args=c["args"]) for c in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        extra.update(
            tool_call_id=message.tool_call_id,
            name=message.name,
            is_error=message.status == "error",
        )
    return HistoryMessage(
        id=message.id,
        role=role,
        content=message.text,
        created_at=datetime.fromisoformat(created) if isinstance(created, str) else None,
        status=status_of(message),
        **extra,
    )
