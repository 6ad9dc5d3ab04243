"""Deterministic replies and tokenization: pure functions, shared with the tests that
need to know in advance what the mock will answer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from llmsvc.mockllm.directives import parse_directives

#: One token is one word with the whitespace that follows it; leading whitespace of
#: the whole text sticks to the first token, so the tokens always join back to the text.
_TOKEN_RE = re.compile(r"\s*\S+\s*")

#: A (role, text) pair: the part of a chat message the mock looks at.
Turn = tuple[str, str]


def tokenize(text: str) -> list[str]:
    """Split `text` into word tokens such that `"".join(tokenize(text)) == text`."""
    tokens = _TOKEN_RE.findall(text)
    if not tokens and text:
        return [text]
    return tokens


@lru_cache(maxsize=64)
def fixed_tokens(n: int) -> tuple[str, ...]:
    """The `n` tokens of the fixed-length benchmark reply: `tok0 `, `tok1 `, … `tok{n-1}`."""
    return tuple(f"tok{i} " for i in range(n - 1)) + ((f"tok{n - 1}",) if n > 0 else ())


def fixed_reply(n: int) -> str:
    return "".join(fixed_tokens(n))


def content_text(content: object) -> str:
    """The text of an OpenAI message `content`: a string, or a list of parts of which
    the `text` ones count (joined by newlines); anything else is empty."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
            else:
                text = getattr(part, "text", None)
            if isinstance(text, str):
                texts.append(text)
        return "\n".join(texts)
    return ""


def last_user_text(turns: Sequence[Turn]) -> str:
    for role, text in reversed(turns):
        if role == "user":
            return text
    return ""


def echo_reply(turns: Sequence[Turn]) -> str:
    """The default reply: echoes the last user message and counts the user messages,
    which proves that the caller sent the whole conversation."""
    n = sum(1 for role, _ in turns if role == "user")
    return f"You said: {last_user_text(turns)}. I have seen {n} user messages."


def reply_text(turns: Sequence[Turn], reply_tokens: int) -> str:
    return fixed_reply(reply_tokens) if reply_tokens > 0 else echo_reply(turns)


def turns_of(messages: Iterable[Mapping[str, Any]]) -> list[Turn]:
    return [(str(m.get("role", "")), content_text(m.get("content"))) for m in messages]


def reply_for(messages: Iterable[Mapping[str, Any]], *, reply_tokens: int = 0) -> str:
    """What the mock answers to OpenAI-shaped `messages` (dicts with `role` and
    `content`) when no request header overrides it.

    `reply_tokens` is the server's `MOCKLLM_REPLY_TOKENS`; a `[mock:tokens=N]` directive
    in the last user message takes precedence over it. 0 means the echo reply.
    """
    turns = turns_of(messages)
    directives = parse_directives(last_user_text(turns))
    if directives.reply_tokens is not None:
        reply_tokens = directives.reply_tokens
    return reply_text(turns, reply_tokens)


def prompt_tokens(turns: Iterable[Turn]) -> int:
    """Prompt size reported in `usage`: the word tokens of every message's text
    (`len(tokenize(text))`, counted without building the tokens: long conversations
    arrive on every request)."""
    return sum(len(text.split()) or (1 if text else 0) for _, text in turns)
