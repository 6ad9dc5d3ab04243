"""What one turn has produced so far, kept so a turn that ends early is stored as it
ended (honest history) rather than lost."""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from llmsvc.common.contracts.agent import MessageStatus


def assistant_message_id(run_id: str, step: int = 0) -> str:
    """Stable per run and model call, so a retried run replaces its messages instead of
    adding more. The first (often only) model call of a run has the plain id."""
    return f"ai-{run_id}" if step == 0 else f"ai-{run_id}-{step}"


def tool_message_id(run_id: str, tool_call_id: str) -> str:
    return f"tool-{run_id}-{tool_call_id}"


def run_message_prefixes(run_id: str) -> tuple[str, ...]:
    """What the ids of a run's own model and tool messages start with."""
    return (assistant_message_id(run_id), f"tool-{run_id}-")


class TurnTranscript:
    """The turn's finished messages (model replies and tool results, in the order they
    finished) and the text of the model call under way."""

    def __init__(self, run_id: str, on_token: Callable[[str], None]) -> None:
        self._run_id = run_id
        self._on_token = on_token
        self.finished: list[BaseMessage] = []
        self._partial: list[str] = []

    def text(self, delta: str) -> None:
        """A text delta of the reply being streamed: kept, and sent to the client."""
        self._partial.append(delta)
        self._on_token(delta)

    def add(self, message: BaseMessage) -> None:
        self.finished.append(message)
        if isinstance(message, AIMessage):
            self._partial.clear()

    @property
    def produced_anything(self) -> bool:
        return bool(self.finished or self._partial)

    def unfinished(self, status: MessageStatus, *, created_at: str) -> list[BaseMessage]:
        """The turn as it stands, ending in an assistant message marked `status` (with the
        text streamed so far), where every tool call has a result (an error for those that
        got none), so the model's next turn reads a well-formed conversation."""
        messages = list(self.finished)
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        for message in self.finished:
            if not isinstance(message, AIMessage):
                continue
            for call in message.tool_calls:
                if call["id"] is not None and call["id"] not in answered:
                    messages.append(
                        ToolMessage(
                            "Error: the run ended before this tool call finished.",
                            tool_call_id=call["id"],
                            name=call["name"],
                            status="error",
                            id=tool_message_id(self._run_id, call["id"]),
                            response_metadata={"created_at": created_at},
                        )
                    )
        steps = sum(isinstance(m, AIMessage) for m in self.finished)
        messages.append(
            AIMessage(
                "".join(self._partial),
                id=assistant_message_id(self._run_id, steps),
                response_metadata={"created_at": created_at, "status": status},
            )
        )
        return messages
