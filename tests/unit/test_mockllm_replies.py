"""mockllm's pure parts: replies, tokenization, directives, settings, wire encoding."""

from __future__ import annotations

import json

import pytest
from starlette.datastructures import Headers

from llmsvc.mockllm import (
    Behaviour,
    FailMode,
    InvalidDirective,
    MockSettings,
    fixed_reply,
    parse_directives,
    reply_for,
    tokenize,
)
from llmsvc.mockllm.app import plan_reply
from llmsvc.mockllm.directives import parse_headers
from llmsvc.mockllm.replies import prompt_tokens
from llmsvc.mockllm.schemas import ChatCompletionRequest, ChunkEncoder

pytestmark = pytest.mark.unit

_MOCKLLM_ENV = ("HOST", "PORT", "MOCKLLM_HOST", "MOCKLLM_PORT", "MOCKLLM_FAIL", "MOCKLLM_MODEL")


@pytest.mark.parametrize(
    "text",
    [
        "You said: hi. I have seen 1 user messages.",
        "  leading and trailing  ",
        "tabs\tand\nnewlines\n\n",
        "one",
        "   ",
        "",
        "ünïcödé 字 🙂 words",
    ],
)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text
    # The usage count takes a shortcut; it must count the same tokens.
    assert prompt_tokens([("user", text)]) == len(tokenize(text))


def test_a_token_is_a_word_with_its_following_space() -> None:
    assert tokenize("You said: hi.  Bye") == ["You ", "said: ", "hi.  ", "Bye"]


def test_echo_reply_repeats_the_last_user_message_and_counts_user_messages() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first. I have seen 1 user messages."},
        {"role": "user", "content": "second"},
    ]
    assert reply_for(messages) == "You said: second. I have seen 2 user messages."


def test_echo_reply_reads_text_parts_of_list_content() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url"}]},
    ]
    assert reply_for(messages) == "You said: a. I have seen 1 user messages."


def test_no_user_message_gives_an_empty_echo() -> None:
    assert reply_for([{"role": "system", "content": "x"}]) == (
        "You said: . I have seen 0 user messages."
    )


def test_fixed_reply_has_exactly_n_tokens() -> None:
    assert fixed_reply(3) == "tok0 tok1 tok2"
    assert tokenize(fixed_reply(3)) == ["tok0 ", "tok1 ", "tok2"]
    assert len(tokenize(fixed_reply(250))) == 250
    assert fixed_reply(0) == ""


def test_reply_for_honours_configured_length_and_the_tokens_directive() -> None:
    plain = [{"role": "user", "content": "hi"}]
    assert reply_for(plain, reply_tokens=2) == "tok0 tok1"
    directed = [{"role": "user", "content": "hi [mock:tokens=4]"}]
    assert reply_for(directed) == "tok0 tok1 tok2 tok3"
    assert reply_for(directed, reply_tokens=2) == "tok0 tok1 tok2 tok3"
    echoed = [{"role": "user", "content": "hi [mock:tokens=0]"}]
    assert reply_for(echoed, reply_tokens=2).startswith("You said: hi [mock:tokens=0].")


def test_directives_are_parsed_from_the_text() -> None:
    o = parse_directives("go [mock:fail=500] [mock:tps=25] [mock:ttft=150] [mock:tokens=7]")
    assert (o.fail, o.tokens_per_s, o.ttft_ms, o.reply_tokens) == (
        FailMode.SERVER_ERROR,
        25,
        150,
        7,
    )
    assert parse_directives("[mock:fail=stall]").fail is FailMode.STALL
    assert parse_directives("[mock:fail=DISCONNECT]").fail is FailMode.DISCONNECT
    assert parse_directives("no directives here") == parse_directives("")


@pytest.mark.parametrize(
    "text",
    ["[mock:fail=418]", "[mock:tps=-1]", "[mock:tokens=1.5]", "[mock:ttft=soon]", "[mock:x=1]"],
)
def test_bad_directives_are_rejected(text: str) -> None:
    with pytest.raises(InvalidDirective):
        parse_directives(text)


def test_headers_override_directives_which_override_settings() -> None:
    settings = Behaviour(ttft_ms=10, tokens_per_s=5, reply_tokens=3, fail=FailMode.RATE_LIMIT)
    from_message = parse_directives("[mock:ttft=20] [mock:fail=none]").apply(settings)
    assert from_message == Behaviour(ttft_ms=20, tokens_per_s=5, reply_tokens=3, fail=None)
    headers = Headers({"X-Mock-TTFT-ms": "30", "x-mock-fail": "stall"})
    assert parse_headers(headers).apply(from_message) == Behaviour(
        ttft_ms=30, tokens_per_s=5, reply_tokens=3, fail=FailMode.STALL
    )
    with pytest.raises(InvalidDirective) as bad:
        parse_headers(Headers({"x-mock-tokens-per-s": "fast"}))
    assert bad.value.param == "x-mock-tokens-per-s"


def test_plan_truncates_to_max_tokens_and_counts_prompt_tokens() -> None:
    body = ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello there"},
            ],
            "max_tokens": 3,
        }
    )
    plan = plan_reply(body, Headers({}), Behaviour())
    assert list(plan.tokens) == ["You ", "said: ", "hello "]
    assert plan.finish_reason == "length"
    assert plan.prompt_tokens == 4


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _MOCKLLM_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = MockSettings()
    assert (s.host, s.port, s.model) == ("127.0.0.1", 8100, "mock-model")
    assert s.behaviour() == Behaviour()


def test_settings_fall_back_to_host_and_port(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HOST", "0.0.0.0")
    clean_env.setenv("PORT", "9000")
    assert (MockSettings().host, MockSettings().port) == ("0.0.0.0", 9000)
    clean_env.setenv("MOCKLLM_HOST", "127.0.0.2")
    clean_env.setenv("MOCKLLM_PORT", "9100")
    assert (MockSettings().host, MockSettings().port) == ("127.0.0.2", 9100)


def test_settings_read_behaviour(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MOCKLLM_TTFT_MS", "250")
    clean_env.setenv("MOCKLLM_TOKENS_PER_S", "40")
    clean_env.setenv("MOCKLLM_REPLY_TOKENS", "12")
    clean_env.setenv("MOCKLLM_FAIL", "disconnect")
    assert MockSettings().behaviour() == Behaviour(250, 40, 12, FailMode.DISCONNECT)
    clean_env.setenv("MOCKLLM_FAIL", "none")
    assert MockSettings().fail is None


def test_stream_chunks_are_valid_openai_chunks() -> None:
    enc = ChunkEncoder('model "quoted"')
    first = json.loads(enc.first('He said "hi"\n').removeprefix(b"data: "))
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": 'He said "hi"\n'}
    assert first["model"] == 'model "quoted"'
    later = json.loads(enc.token("x ").removeprefix(b"data: "))
    assert later["choices"][0]["delta"] == {"content": "x "}
    assert later["id"] == first["id"]
    end = json.loads(enc.finish("stop").removeprefix(b"data: "))
    assert end["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    usage = json.loads(enc.usage(3, 4).removeprefix(b"data: "))
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
