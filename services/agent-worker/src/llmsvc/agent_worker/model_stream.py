"""One streamed chat completion, cheap per token.

The model node calls this instead of `ChatOpenAI.astream`. langchain-openai still builds
the request (message conversion, model parameters) and its openai SDK client still sends
it (auth, base URL, timeouts, retries of a failed request), but the stream itself is read
as raw bytes and each `data:` line is parsed with orjson: no pydantic model, message
chunk, callback run or LangGraph stream event per token. That per-chunk machinery cost
about three times what relaying a token costs (bench/README.md).

Text deltas go to `on_text` as they arrive; tool-call deltas are gathered by index and
become the reply's `tool_calls` (or `invalid_tool_calls`) once the stream ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_openai import ChatOpenAI
from opentelemetry.trace import SpanKind

from llmsvc.common import tracing


class ModelStreamError(Exception):
    """The endpoint reported an error inside an already started stream."""


@dataclass
class _ToolCallDelta:
    id: str | None = None
    name: str = ""
    args: list[str] = field(default_factory=list)


@dataclass
class StreamedReply:
    """What a stream delivered, gathered as it went."""

    text: list[str] = field(default_factory=list)
    tool_calls: dict[int, _ToolCallDelta] = field(default_factory=dict)
    finish_reason: str | None = None
    model_name: str | None = None
    usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any], on_text: Callable[[str], None]) -> None:
        if "error" in chunk and not chunk.get("choices"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ModelStreamError(str(message or "model stream error"))
        if usage := chunk.get("usage"):
            self.usage = usage
        if model := chunk.get("model"):
            self.model_name = model
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                self.text.append(text)
                on_text(text)
            for call in delta.get("tool_calls") or ():
                self._add_tool_call(call)
            if reason := choice.get("finish_reason"):
                self.finish_reason = reason

    def _add_tool_call(self, call: dict[str, Any]) -> None:
        slot = self.tool_calls.setdefault(int(call.get("index", 0)), _ToolCallDelta())
        if call_id := call.get("id"):
            slot.id = call_id
        function = call.get("function") or {}
        if name := function.get("name"):
            slot.name += name
        if args := function.get("arguments"):
            slot.args.append(args)

    def message(self, *, message_id: str, created_at: str) -> AIMessage:
        # AIMessageChunk parses the gathered tool-call arguments (JSON) into tool_calls,
        # or into invalid_tool_calls when they do not parse.
        chunk = AIMessageChunk(
            content="",
            tool_call_chunks=[
                tool_call_chunk(name=c.name, args="".join(c.args), id=c.id, index=i)
                for i, c in sorted(self.tool_calls.items())
            ],
        )
        metadata: dict[str, Any] = {
            "finish_reason": self.finish_reason or "stop",
            "created_at": created_at,
        }
        if self.model_name:
            metadata["model_name"] = self.model_name
        return AIMessage(
            content="".join(self.text),
            id=message_id,
            tool_calls=chunk.tool_calls,
            invalid_tool_calls=chunk.invalid_tool_calls,
            response_metadata=metadata,
            usage_metadata=_usage_metadata(self.usage),
        )


async def stream_reply(
    model: ChatOpenAI,
    messages: Sequence[BaseMessage],
    on_text: Callable[[str], None],
    *,
    tools: Sequence[dict[str, Any]] = (),
    options: Mapping[str, Any] | None = None,
) -> StreamedReply:
    """Stream one completion of `messages`, calling `on_text` with each text delta.
    `tools` are the OpenAI function specs the model may call (`convert_to_openai_tool`);
    `options` are request fields that override the model's (temperature, stop, …)."""
    extra: dict[str, Any] = dict(options or {})
    if tools:
        extra["tools"] = list(tools)
    payload = model._get_request_payload(
        list(messages), stream=True, stream_options={"include_usage": True}, **extra
    )
    reply = StreamedReply()
    with tracing.span(
        "chat",
        kind=SpanKind.CLIENT,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": model.model_name},
    ) as span:
        await _stream(model, payload, reply, on_text)
        if span is not None and reply.usage:
            span.set_attribute("gen_ai.usage.input_tokens", reply.usage.get("prompt_tokens", 0))
            span.set_attribute(
                "gen_ai.usage.output_tokens", reply.usage.get("completion_tokens", 0)
            )
    return reply


async def _stream(
    model: ChatOpenAI,
    payload: dict[str, Any],
    reply: StreamedReply,
    on_text: Callable[[str], None],
) -> None:
    # The SDK's own low-level `post` (its way to undocumented endpoints) with the
    # payload as langchain-openai built it: `create()` would re-validate it against the
    # params TypedDict first, which cost ~9% of a worker's CPU under load. With
    # `cast_to=httpx2.Response` and `stream=True` it returns the response unread.
    response = await model.root_async_client.post(
        "/chat/completions",
        body=payload,
        cast_to=httpx2.Response,
        stream=True,
        options={"security": {"bearer_auth": True}},
    )
    try:
        async for data in _sse_data(response.aiter_bytes()):
            if data == b"[DONE]":
                break
            reply.add(orjson.loads(data), on_text)
    finally:
        await response.aclose()


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The `data:` payloads of a server-sent event stream, split from raw byte chunks
    (an event may span chunks; a chunk may hold many events)."""
    buffer = b""
    async for chunk in chunks:
        buffer = buffer + chunk if buffer else chunk
        if b"\n" not in chunk:
            continue
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if buffer.startswith(b"data:"):
        yield buffer[5:].strip()


def _usage_metadata(usage: dict[str, Any] | None) -> Any:
    if not usage:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
