"""A run's events in OpenAI's chat-completion shapes: `chat.completion.chunk` frames for
`stream: true`, one `chat.completion` object otherwise.

A run that restarts on another worker (`reset`) streams its reply again from the start.
The client has already been sent part of it and cannot be told to drop it, so the new
text is held back until it passes what was sent, and sent from there; if it turns out
different (a model that does not answer the same twice), the stream ends with an error.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from llmsvc.common.contracts.agent import RunEvent

__all__ = ["CompletionReply", "error_body"]

DONE_FRAME = b"data: [DONE]\n\n"
RESTARTED = "the run restarted on another worker and its reply changed; ask again"
PING_FRAME = b": ping\n\n"

#: OpenAI's error `type` for each status.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _frame(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _tool_call(index: int, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "index": index,
        "id": data.get("id"),
        "type": "function",
        "function": {"name": data.get("name"), "arguments": json.dumps(data.get("args") or {})},
    }


def _usage(data: dict[str, Any]) -> dict[str, int]:
    usage = data.get("usage") or {}
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class CompletionReply:
    """One run's reply as the OpenAI API gives it."""

    def __init__(self, run_id: str, model: str) -> None:
        self.id = f"chatcmpl-{run_id}"
        self.model = model
        self.created = int(time.time())

    def _chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        **extra: Any,
    ) -> bytes:
        return _frame(
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
                **extra,
            }
        )

    async def frames(
        self, events: AsyncIterator[RunEvent | None], *, include_usage: bool
    ) -> AsyncIterator[bytes]:
        """The SSE body for `stream: true`: chunks, then `[DONE]` (or an error frame)."""
        yield self._chunk({"role": "assistant", "content": ""})
        sent = ""  # the text the client has
        replay: str | None = None  # the text of a restarted run, while it catches up
        calls_sent = 0
        calls_seen = 0
        async for event in events:
            if event is None:
                yield PING_FRAME
                continue
            data = event.data
            if event.type == "token":
                text = str(data.get("text", ""))
                if replay is not None:
                    replay += text
                    if len(replay) <= len(sent):
                        if not sent.startswith(replay):
                            yield _frame(error_body(502, "run_restarted", RESTARTED))
                            return
                        continue
                    if not replay.startswith(sent):
                        yield _frame(error_body(502, "run_restarted", RESTARTED))
                        return
                    text, replay = replay[len(sent) :], None
                sent += text
                yield self._chunk({"content": text})
            elif event.type == "tool_call":
                calls_seen += 1
                if calls_seen > calls_sent:  # not already sent before a restart
                    yield self._chunk({"tool_calls": [_tool_call(calls_sent, data)]})
                    calls_sent += 1
            elif event.type == "reset":
                replay = "" if sent else None
                calls_seen = 0
            elif event.type == "done":
                if replay is not None and replay != sent:
                    yield _frame(error_body(502, "run_restarted", RESTARTED))
                    return
                yield self._chunk({}, str(data.get("finish_reason") or "stop"))
                if include_usage:
                    yield _frame(
                        {
                            "id": self.id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": self.model,
                            "choices": [],
                            "usage": _usage(data),
                        }
                    )
                yield DONE_FRAME
                return
            elif event.type in ("error", "cancelled"):
                code = str(data.get("code") or "run_cancelled")
                message = str(data.get("message") or data.get("reason") or "the run ended")
                yield _frame(error_body(502, code, message))
                return

    def completion(self, done: dict[str, Any]) -> dict[str, Any]:
        """The `chat.completion` object for `stream: false`, from the `done` event."""
        reply = done.get("message") or {}
        calls = [_tool_call(n, c) for n, c in enumerate(reply.get("tool_calls") or [])]
        for call in calls:
            del call["index"]
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content") or None}
        if calls:
            message["tool_calls"] = calls
        elif message["content"] is None:
            message["content"] = ""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": str(done.get("finish_reason") or "stop"),
                    "logprobs": None,
                }
            ],
            "usage": _usage(done),
        }
