"""Scripted tool calls, so an agent's whole tool loop can be tested through a real client.

In the last user message:

- `[mock:tool=NAME:{JSON args}]` (any number): the reply asks for these tool calls
  (all at once, as parallel calls) instead of answering;
- `[mock:tool_rounds=N]`: ask for them again in each of the first N model calls of the
  turn (default 1), e.g. to exhaust an agent's step limit.

Once the calls of the turn are done, the reply answers from the tool results that follow
the last assistant message: `The calculator tool said: 20.` — one sentence per result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmsvc.mockllm.directives import InvalidDirective

_TOOL_RE = re.compile(r"\[mock:tool=([A-Za-z0-9_.-]+):([^\]]*)\]")
_ROUNDS_RE = re.compile(r"\[mock:tool_rounds=([^\]]*)\]")
MAX_ROUNDS = 1000


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


@dataclass(frozen=True, slots=True)
class ToolScript:
    calls: tuple[tuple[str, str], ...] = ()
    rounds: int = 1

    @classmethod
    def parse(cls, text: str) -> ToolScript:
        if "[mock:tool" not in text:
            return _NO_SCRIPT
        calls = []
        for name, raw in _TOOL_RE.findall(text):
            try:
                args = json.loads(raw)
            except ValueError:
                args = None
            if not isinstance(args, dict):
                raise InvalidDirective(
                    f"[mock:tool={name}:…] needs a JSON object of arguments", param="messages"
                )
            calls.append((name, json.dumps(args)))
        rounds = 1
        for raw in _ROUNDS_RE.findall(text):
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_ROUNDS:
                raise InvalidDirective(
                    f"[mock:tool_rounds] must be an integer from 1 to {MAX_ROUNDS}",
                    param="messages",
                )
            rounds = int(raw)
        return cls(calls=tuple(calls), rounds=rounds)


_NO_SCRIPT = ToolScript()


def _after_last_user(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return list(messages[i + 1 :])
    return list(messages)


def next_tool_calls(script: ToolScript, messages: Sequence[dict[str, Any]]) -> list[ToolCall]:
    """The tool calls this reply asks for: none once the script's rounds are done."""
    if not script.calls:
        return []
    done = sum(
        1
        for m in _after_last_user(messages)
        if m.get("role") == "assistant" and m.get("tool_calls")
    )
    if done >= script.rounds:
        return []
    return [
        ToolCall(id=f"call_{done}_{i}", name=name, arguments=arguments)
        for i, (name, arguments) in enumerate(script.calls)
    ]


def tool_answer(messages: Sequence[dict[str, Any]]) -> str | None:
    """The answer from the tool results after the last assistant message, if any."""
    turn = _after_last_user(messages)
    names: dict[str, str] = {}
    results: list[tuple[str, str]] = []
    for message in turn:
        if message.get("role") == "assistant":
            results = []
            for call in message.get("tool_calls") or ():
                names[str(call.get("id"))] = str((call.get("function") or {}).get("name"))
        elif message.get("role") == "tool":
            name = names.get(str(message.get("tool_call_id")), "unknown")
            results.append((name, _text(message.get("content"))))
    if not results:
        return None
    return " ".join(f"The {name} tool said: {content}." for name, content in results)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""
