"""mockllm: an OpenAI-compatible chat-completions server with deterministic replies,
configurable pacing and failure injection, for tests, benchmarks and load tests."""

from llmsvc.mockllm.app import create_app
from llmsvc.mockllm.directives import Behaviour, FailMode, InvalidDirective, parse_directives
from llmsvc.mockllm.replies import echo_reply, fixed_reply, reply_for, tokenize
from llmsvc.mockllm.settings import MockSettings

__all__ = [
    "Behaviour",
    "FailMode",
    "InvalidDirective",
    "MockSettings",
    "create_app",
    "echo_reply",
    "fixed_reply",
    "parse_directives",
    "reply_for",
    "tokenize",
]
