"""OpenAI chat-completions wire shapes: the request we accept and the JSON we send.

Responses are built as strings around `json.dumps` of the varying parts, so a streamed
token costs one small encode rather than a model validation."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from llmsvc.mockllm.tool_script import ToolCall

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields the mock uses; any other OpenAI parameter is accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: Literal[1] | None = None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


def error_body(message: str, *, type: str, code: str | None = None, param: Any = None) -> Any:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(
    *,
    model: str,
    text: str,
    finish_reason: str,
    prompt: int,
    completion: int,
    tool_calls: Sequence[ToolCall] = (),
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in tool_calls
        ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(prompt, completion),
    }


class ChunkEncoder:
    """SSE frames (`data: …\\n\\n`) of one streamed completion."""

    __slots__ = ("_head", "_id", "_created", "_model")

    def __init__(self, model: str) -> None:
        self._id = completion_id()
        self._created = int(time.time())
        self._model = model
        self._head = (
            f'data: {{"id":"{self._id}","object":"chat.completion.chunk",'
            f'"created":{self._created},"model":{json.dumps(model)},"system_fingerprint":null,'
            '"choices":[{"index":0,"delta":{'
        )

    def first(self, token: str) -> bytes:
        """The first token carries the role, so no empty chunk precedes real text."""
        return (
            f'{self._head}"role":"assistant","content":{json.dumps(token)}}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        ).encode()

    def token(self, token: str) -> bytes:
        return (
            f'{self._head}"content":{json.dumps(token)}}},'
            '"logprobs":null,"finish_reason":null}]}\n\n'
        ).encode()

    def finish(self, finish_reason: str) -> bytes:
        return f'{self._head}}},"logprobs":null,"finish_reason":"{finish_reason}"}}]}}\n\n'.encode()

    def _frame(self, choices: list[Any], **extra: Any) -> bytes:
        """One chunk built as JSON (for the rare frames; tokens use the prebuilt head)."""
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n".encode()

    def usage(self, prompt: int, completion: int) -> bytes:
        return self._frame([], usage=usage(prompt, completion))

    def tool_call(self, index: int, call: ToolCall) -> list[bytes]:
        """A tool call as OpenAI streams one: id and name first, then the arguments in
        two pieces (so a client must join them)."""
        half = len(call.arguments) // 2
        parts = [
            {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            },
            {"index": index, "function": {"arguments": call.arguments[:half]}},
            {"index": index, "function": {"arguments": call.arguments[half:]}},
        ]
        frames = []
        for i, part in enumerate(parts):
            delta: dict[str, Any] = {"tool_calls": [part]}
            if index == 0 and i == 0:
                delta = {"role": "assistant", "content": None, **delta}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
            frames.append(self._frame([choice]))
        return frames

    DONE = b"data: [DONE]\n\n"
