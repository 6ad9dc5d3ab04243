"""How a run can end other than with `done`, in one place: the exceptions that steer a
run (and its job) and the `error` events that end one.

The job loop (`jobs.py`) reads the first group:

- `RunDeferred`: another run holds the conversation; the job is retried later.
- `RunFenced`: this worker was presumed dead and another took the run over; stop
  without a word (neither ack nor nak).
- any other exception, and `CancelledError` while the worker stops: the job goes back
  to the queue and the turn runs again (a Mongo or NATS outage is such a case).

The second group ends the run with an `error` event, since running the job again
would not change the outcome: `run_error_body` maps them, and the model's failures
(classified by the openai SDK's and its HTTP transport's exception types).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx2
import openai

from llmsvc.agent_worker.model_stream import ModelStreamError


class RunDeferred(Exception):
    """Another run holds the conversation; the job is retried later."""


class RunFenced(Exception):
    """Another worker has published to this run since we last did: it owns the run now
    (we were presumed dead after missing heartbeats). Stop without a word."""


class RunEnded(Exception):
    """A reason to end the run with an `error` event."""

    code = "run_failed"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.code

    @property
    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": str(self)}


class ToolStepLimit(RunEnded):
    """The model was still asking for tools when the turn's last model call was used."""

    code = "tool_step_limit"

    def __init__(self, steps: int) -> None:
        super().__init__(f"the agent used its {steps} steps without answering")


class ModelUnavailable(RunEnded):
    """The conversation's model is no longer on offer (`MODELS` changed)."""

    code = "model_unavailable"

    def __init__(self, model_id: str) -> None:
        super().__init__(f"the model {model_id!r} is no longer available; choose another")


class ReplaceRefused(RunEnded):
    """An edit or a regeneration with nothing to replace."""


class LockLost(RunEnded):
    """Another run took the conversation (this run's lock expired and was taken)."""

    code = "run_lock_lost"

    def __init__(self) -> None:
        super().__init__("another reply took over this conversation")


def run_error_body(exc: BaseException) -> dict[str, str] | None:
    """The `error` event that ends a run failing with `exc`; None when the job should be
    run again instead (not the model's or the run's own failure)."""
    if isinstance(exc, RunEnded):
        return exc.body
    return model_error_body(exc)


def model_error_body(exc: BaseException) -> dict[str, str] | None:
    """The `error` event for a failure of the model or of the way to it, by the openai
    SDK's exception types and those of its HTTP transport (httpx2, raised raw while a
    stream is read); None for anything else (an infrastructure failure such as Mongo or
    NATS: the job goes back to the queue instead)."""
    if isinstance(exc, openai.RateLimitError):
        return {"code": "model_rate_limited", "message": "the model is rate limited; try again"}
    if _caused_by(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientConnectorError):
        # The SDK's aiohttp transport reports a dropped connection as a timeout.
        return {"code": "model_unreachable", "message": "the model could not be reached"}
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return {"code": "model_timeout", "message": "the model did not answer in time"}
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError):
        return {"code": "model_unreachable", "message": "the model could not be reached"}
    if isinstance(exc, openai.APIError | httpx2.HTTPError | ModelStreamError):
        return {"code": "model_error", "message": "the model failed to answer"}
    return None


def _caused_by(exc: BaseException, kinds: type[BaseException] | Any) -> bool:
    """Whether `exc` or an exception it was raised from is one of `kinds`."""
    seen: BaseException | None = exc
    for _ in range(10):  # causes chain short; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
