"""Runs for the OpenAI-compatible API (`RunJob.completion`): one model call with the
client's messages, tools and sampling parameters. The client runs its own tools, so a
reply that asks for them ends the run (`finish_reason: tool_calls`).

Stateless, the request's messages are the whole context and nothing is stored. In a
conversation, its stored history comes first and the request's new messages (a user
message, or the results of the tools the last reply asked for) are stored with the reply,
so the conversation reads the same in the web UI and over `/conversation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)

from llmsvc.agent_worker.transcript import tool_message_id
from llmsvc.common.contracts.agent import Completion, RunJob

__all__ = ["CompletionTurn", "answer_open_tool_calls", "new_message_prefix"]

#: What a tool call left without a result reads as, so the model's context stays
#: well-formed (every tool call followed by its result).
NO_RESULT = "Error: no result was given for this tool call."


def new_message_prefix(job: RunJob) -> str:
    """The ids of a completion's new messages start with this (stable per run)."""
    return f"{job.message_id}-"


def answer_open_tool_calls(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """`messages` with an error result right after each assistant message for every
    tool call of it that no later message answers (a client that asked for its tools
    and then sent a new question instead of their results)."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    out: list[BaseMessage] = []
    for message in messages:
        out.append(message)
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["id"] and call["id"] not in answered:
                    out.append(
                        ToolMessage(
                            NO_RESULT, tool_call_id=call["id"], name=call["name"], status="error"
                        )
                    )
    return out


class CompletionTurn:
    """The messages of one completion run: what goes to the model, what is stored."""

    def __init__(self, job: RunJob) -> None:
        if job.completion is None:
            raise ValueError("not a completion job")
        self.job = job
        self.spec: Completion = job.completion
        given = convert_to_messages(self.spec.messages)
        prefix = new_message_prefix(job)
        for n, message in enumerate(given):
            if isinstance(message, ToolMessage):
                message.id = tool_message_id(job.run_id, message.tool_call_id)
            else:
                message.id = f"{prefix}{n}"
            message.response_metadata.setdefault("created_at", job.created_at.isoformat())
        self.system = [m for m in given if isinstance(m, SystemMessage)]
        #: Stored with the reply (in a conversation): everything but system messages.
        self.new = [m for m in given if not isinstance(m, SystemMessage)]
        self.given = given

    @property
    def stored(self) -> bool:
        return not self.spec.stateless

    def context(self, earlier: Sequence[BaseMessage]) -> list[BaseMessage]:
        """What the model reads. In a conversation, a system message of the request
        stands in for the conversation's instructions for this call."""
        if self.spec.stateless:
            return answer_open_tool_calls(self.given)
        instructions = self.system or (
            [SystemMessage(self.job.instructions)] if self.job.instructions else []
        )
        return [*instructions, *answer_open_tool_calls([*earlier, *self.new])]

    def model_options(self) -> dict[str, Any]:
        options = dict(self.spec.params)
        if self.spec.tool_choice is not None and self.spec.tools:
            options["tool_choice"] = self.spec.tool_choice
        return options
