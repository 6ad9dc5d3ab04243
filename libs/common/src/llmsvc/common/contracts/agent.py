from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from llmsvc.common.contracts.base import Contract

EventType = Literal[
    "metadata", "token", "tool_call", "tool_result", "done", "error", "reset", "cancelled"
]
TERMINAL_EVENTS: frozenset[str] = frozenset({"done", "error", "cancelled"})


class Completion(Contract):
    """A run asked for through the OpenAI-compatible API (`POST /v1/chat/completions`):
    one model call with the client's own tools (the client runs them; the agent's tools
    are not offered) and its sampling parameters."""

    #: Messages in OpenAI's shape. Stateless: the whole request, used as given and never
    #: stored. In a conversation: only the new ones (those after the request's last
    #: assistant message), which the worker adds to the stored history it answers from.
    messages: list[dict[str, Any]]
    stateless: bool
    #: The client's tools (OpenAI function specs) and its `tool_choice`.
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: Any = None
    #: Passed to the model as they are: temperature, top_p, max_tokens, stop, seed, …
    params: dict[str, Any] = Field(default_factory=dict)


class RunJob(Contract):
    run_id: str
    session_id: str
    thread_id: str
    user_id: str
    message: str
    message_id: str
    created_at: datetime
    #: The conversation's model (an id of the operator's `MODELS`; None: the default)
    #: and instructions (its system prompt), as the gateway last saw them.
    model: str | None = None
    instructions: str = ""
    #: Nobody has named the conversation yet: title it after its first exchange.
    wants_title: bool = False
    #: Replace this user message (and everything after it) with `message`.
    edit_message_id: str | None = None
    #: Answer the conversation's last user message again, replacing what followed it;
    #: `message` is then empty (the worker reads the stored one).
    regenerate: bool = False
    #: Set for the OpenAI-compatible API: what to send the model instead of running the
    #: agent (a stateless one has a session id of its own, no conversation behind it).
    completion: Completion | None = None


class RunEvent(Contract):
    """One event of a run, as stored on `agent.v1.runs.<run_id>.events`.

    `user_id` lets any gateway check ownership on resume; it is never sent to clients.
    """

    run_id: str
    seq: int = Field(ge=1)
    type: EventType
    data: dict[str, Any]
    user_id: str

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


class HistoryRequest(Contract):
    thread_id: str
    #: The caller; a worker that knows the conversation's owner answers nobody else.
    user_id: str | None = None
    limit: int = Field(50, ge=1, le=500)
    before: str | None = None


#: `complete`, or how a turn that did not finish ended: `interrupted` (cancelled or
#: failed after part of the reply) or `error` (failed with no reply at all).
MessageStatus = Literal["complete", "interrupted", "error"]


class ToolCall(Contract):
    id: str
    name: str
    args: dict[str, Any]


class HistoryMessage(Contract):
    """A message as history shows it. An assistant message that used tools lists its
    `tool_calls`; each call's result follows as a `tool` message naming the call."""

    id: str
    role: Literal["user", "assistant", "system", "tool"]
    content: str
    created_at: datetime | None = None
    status: MessageStatus = "complete"
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    is_error: bool | None = None


class HistoryPage(Contract):
    messages: list[HistoryMessage]
    next_cursor: str | None = None
