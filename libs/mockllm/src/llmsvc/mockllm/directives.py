"""How one request asks the mock to behave: timing, reply length, failures.

Three sources, most specific first: `x-mock-*` request headers, `[mock:key=value]`
directives in the last user message (for callers that cannot set headers, such as
end-to-end tests through the gateway), then the server's `MOCKLLM_*` settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

MAX_REPLY_TOKENS = 100_000
MAX_TTFT_MS = 3_600_000.0
MAX_TOKENS_PER_S = 1_000_000.0
MAX_FAIL_FIRST = 100

_DIRECTIVE_RE = re.compile(r"\[mock:([A-Za-z_-]+)=([^\]]*)\]")


class FailMode(StrEnum):
    RATE_LIMIT = "429"
    SERVER_ERROR = "500"
    STALL = "stall"  # first token, then nothing until the client goes away
    DISCONNECT = "disconnect"  # a few tokens, then the connection is dropped


class InvalidDirective(ValueError):
    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class Behaviour:
    ttft_ms: float = 0.0
    tokens_per_s: float = 0.0  # 0: as fast as possible
    reply_tokens: int = 0  # 0: the echo reply
    fail: FailMode | None = None
    #: Fail only the first N requests of a conversation (same last user message), so a
    #: client's retry succeeds; 0 fails every one.
    fail_first: int = 0


@dataclass(frozen=True, slots=True)
class Overrides:
    """Per-request overrides; None leaves the value to the next source."""

    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    reply_tokens: int | None = None
    fail: FailMode | None = None
    no_fail: bool = False  # `fail=none`: switch a configured failure off
    fail_first: int | None = None

    def apply(self, base: Behaviour) -> Behaviour:
        if self == _NO_OVERRIDES:
            return base
        return Behaviour(
            ttft_ms=base.ttft_ms if self.ttft_ms is None else self.ttft_ms,
            tokens_per_s=base.tokens_per_s if self.tokens_per_s is None else self.tokens_per_s,
            reply_tokens=base.reply_tokens if self.reply_tokens is None else self.reply_tokens,
            fail=None if self.no_fail else (self.fail or base.fail),
            fail_first=base.fail_first if self.fail_first is None else self.fail_first,
        )


_NO_OVERRIDES = Overrides()


def parse_fail(value: str, *, param: str) -> FailMode | None:
    """A failure mode, or None for `none`/empty."""
    value = value.strip().lower()
    if value in ("", "none", "off"):
        return None
    try:
        return FailMode(value)
    except ValueError:
        allowed = ", ".join(m.value for m in FailMode)
        raise InvalidDirective(
            f"{param} must be one of {allowed} or none, not {value!r}", param=param
        ) from None


def _number(value: str, *, param: str, upper: float) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= upper:
        raise InvalidDirective(f"{param} must be a number from 0 to {upper:g}", param=param)
    return number


def _count(value: str, *, param: str, upper: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= upper:
        raise InvalidDirective(f"{param} must be an integer from 0 to {upper}", param=param)
    return number


def _overrides(values: Mapping[str, str], names: Mapping[str, str]) -> Overrides:
    """Build overrides from raw `values` keyed by our field names; `names` maps each
    field to the name the caller used, for error messages."""
    fail: FailMode | None = None
    no_fail = False
    if "fail" in values:
        fail = parse_fail(values["fail"], param=names["fail"])
        no_fail = fail is None
    return Overrides(
        ttft_ms=_number(values["ttft_ms"], param=names["ttft_ms"], upper=MAX_TTFT_MS)
        if "ttft_ms" in values
        else None,
        tokens_per_s=_number(
            values["tokens_per_s"], param=names["tokens_per_s"], upper=MAX_TOKENS_PER_S
        )
        if "tokens_per_s" in values
        else None,
        reply_tokens=_count(
            values["reply_tokens"], param=names["reply_tokens"], upper=MAX_REPLY_TOKENS
        )
        if "reply_tokens" in values
        else None,
        fail=fail,
        no_fail=no_fail,
        fail_first=_count(values["fail_first"], param=names["fail_first"], upper=MAX_FAIL_FIRST)
        if "fail_first" in values
        else None,
    )


_DIRECTIVE_FIELDS = {
    "fail": "fail",
    "fail_first": "fail_first",
    "tokens": "reply_tokens",
    "tps": "tokens_per_s",
    "ttft": "ttft_ms",
}
_SCRIPT_KEYS = ("tool", "tool_rounds")
_DIRECTIVE_NAMES = {field: f"[mock:{key}]" for key, field in _DIRECTIVE_FIELDS.items()}

_HEADER_FIELDS = {
    "x-mock-fail": "fail",
    "x-mock-fail-first": "fail_first",
    "x-mock-reply-tokens": "reply_tokens",
    "x-mock-tokens-per-s": "tokens_per_s",
    "x-mock-ttft-ms": "ttft_ms",
}
_HEADER_NAMES = {field: header for header, field in _HEADER_FIELDS.items()}


def parse_directives(text: str) -> Overrides:
    """`[mock:fail=500]`, `[mock:tokens=N]`, `[mock:tps=N]`, `[mock:ttft=MS]` in `text`;
    the last of a kind wins. An unknown key or a bad value raises InvalidDirective."""
    if "[mock:" not in text:
        return _NO_OVERRIDES
    values: dict[str, str] = {}
    for key, value in _DIRECTIVE_RE.findall(text):
        if key.lower() in _SCRIPT_KEYS:
            continue  # what the reply says, not how it behaves: tool_script.py
        field = _DIRECTIVE_FIELDS.get(key.lower())
        if field is None:
            known = ", ".join(f"[mock:{k}=…]" for k in (*_DIRECTIVE_FIELDS, *_SCRIPT_KEYS))
            raise InvalidDirective(
                f"unknown mock directive [mock:{key}=…]; known: {known}", param="messages"
            )
        values[field] = value
    return _overrides(values, _DIRECTIVE_NAMES)


def parse_headers(headers: Mapping[str, str]) -> Overrides:
    """The `x-mock-*` headers of a request (`headers` looked up case-insensitively)."""
    values = {field: headers[h] for h, field in _HEADER_FIELDS.items() if h in headers}
    return _overrides(values, _HEADER_NAMES) if values else Overrides()
