"""A history checker in the spirit of Jepsen's, for the fault suites.

Clients record every operation as it happened: the message sent, every event seen
(across reconnects, on any gateway), the final text. After the faults, `check` compares
those records with what the service stored and counts what went wrong:

- `lost_turn`: an accepted message with no terminal event, or missing from the history;
- `duplicated_turn`: a message stored more than once (or a reply stored twice);
- `failed_run`: a run that ended otherwise than with `done`;
- `event_gap`, `repeated_event`: a client missed an event id or saw one twice;
- `token_mismatch`: the streamed tokens (after the last `reset`) are not the final text;
- `done_differs`: the `done` text is not the reply stored in the history.

`Report.summary()` is one line of counts; every report made in a test session is
printed at its end (see `tests/conftest.py`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.sse import SseEvent, read_sse

TERMINAL = ("done", "error", "cancelled")
KINDS = (
    "lost_turn",
    "duplicated_turn",
    "failed_run",
    "event_gap",
    "repeated_event",
    "token_mismatch",
    "done_differs",
)

#: Every report of this test session, printed at its end.
REPORTS: list[Report] = []


@dataclass
class Exchange:
    """One message sent and everything its client saw of the run it started."""

    session_id: str
    message: str
    run_id: str | None = None
    #: The run's stored events as the client received them, in order (resumes included).
    events: list[SseEvent] = field(default_factory=list)
    #: Sends and resumes that failed and were tried again (what the client had to do).
    retries: int = 0
    #: The HTTP status that refused the message, if it never became a run.
    refused: int | None = None
    gaps: int = 0
    repeats: int = 0

    @property
    def last_id(self) -> int:
        return (self.events[-1].id or 0) if self.events else 0

    @property
    def outcome(self) -> str | None:
        if self.events and self.events[-1].event in TERMINAL:
            return self.events[-1].event
        return None

    @property
    def final_text(self) -> str | None:
        if self.outcome != "done":
            return None
        return str(self.events[-1].data["message"]["content"])

    def streamed_text(self) -> str:
        """What the client shows: the tokens since the run's last `reset`."""
        text = ""
        for event in self.events:
            if event.event == "reset":
                text = ""
            elif event.event == "token":
                text += event.data["text"]
        return text

    def see(self, event: SseEvent) -> None:
        if event.event in ("queued", "metadata") and isinstance(event.data, dict):
            self.run_id = self.run_id or event.data.get("run_id")
        if event.id is None:
            return
        if event.id <= self.last_id:
            self.repeats += 1
            return
        if event.id != self.last_id + 1:
            self.gaps += 1
        self.events.append(event)


#: Called with each event a client receives (a test's fault injector).
Watcher = Callable[[Exchange, SseEvent], None]


class Client:
    """A user who sends messages and follows each reply to its end, through whichever
    gateway answers, as a careful real client does: a send refused with 5xx or cut off
    is sent again, a stream that breaks is resumed with `Last-Event-ID` on the next
    gateway (each attempt goes to the next one of `gateways`, the first to the first)."""

    def __init__(
        self, gateways: Sequence[str], headers: dict[str, str], *, deadline_s: float = 120.0
    ) -> None:
        self.gateways = list(gateways)
        self.headers = headers
        self.deadline_s = deadline_s
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=60.0))
        self._watch: Watcher | None = None
        self._attempts = 0

    async def close(self) -> None:
        await self._http.aclose()

    def _gateway(self) -> str:
        self._attempts += 1
        return self.gateways[(self._attempts - 1) % len(self.gateways)]

    async def send(
        self, session_id: str, message: str, *, watch: Watcher | None = None
    ) -> Exchange:
        ex = Exchange(session_id=session_id, message=message)
        self._watch, self._attempts = watch, 0
        async with asyncio.timeout(self.deadline_s):
            await self._send(ex)
            while ex.refused is None and ex.outcome is None:
                await self._resume(ex)
        return ex

    async def _send(self, ex: Exchange) -> None:
        body = {"message": ex.message, "session_id": ex.session_id}
        for attempt in range(30):
            if attempt:
                ex.retries += 1
                await asyncio.sleep(min(2.0, 0.2 * attempt))
            try:
                async with self._http.stream(
                    "POST", f"{self._gateway()}/conversation", json=body, headers=self.headers
                ) as r:
                    if r.status_code == 200:
                        await self._read(r, ex)
                        if ex.run_id is not None:
                            return
                        continue  # cut off before it said which run: send again
                    error = (await _json(r)).get("error", {})
                    if r.status_code == 409 and attempt and error.get("run_id"):
                        # An earlier attempt was accepted after all: follow that run.
                        ex.run_id = str(error["run_id"])
                        return
                    if r.status_code < 500:
                        ex.refused = r.status_code
                        return
            except httpx.TransportError:
                if ex.run_id is not None:
                    return
        ex.refused = 503

    async def _resume(self, ex: Exchange) -> None:
        ex.retries += 1
        await asyncio.sleep(0.2)
        headers = {**self.headers, "Last-Event-ID": str(ex.last_id)}
        url = f"{self._gateway()}/conversation/runs/{ex.run_id}/events"
        try:
            async with self._http.stream("GET", url, headers=headers) as r:
                if r.status_code == 200:
                    await self._read(r, ex)
                elif r.status_code < 500 and r.status_code != 404:
                    ex.refused = r.status_code
        except httpx.TransportError:
            pass

    async def _read(self, r: httpx.Response, ex: Exchange) -> None:
        try:
            async for event in read_sse(r):
                ex.see(event)
                if self._watch is not None:
                    self._watch(ex, event)
                if event.event in TERMINAL:
                    return
        except (httpx.TransportError, httpx.StreamError):
            return


async def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        await r.aread()
        body = r.json()
    except (ValueError, httpx.HTTPError):
        return {}
    return body if isinstance(body, dict) else {}


@dataclass
class Report:
    scenario: str
    trials: int
    counts: Counter[str]
    examples: list[str]
    #: Sends and resumes clients had to retry (not failures: what a fault costs).
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.counts[k] for k in KINDS)

    def summary(self) -> str:
        found = ", ".join(f"{k}={self.counts[k]}" for k in KINDS if self.counts[k]) or "none"
        return (
            f"{self.scenario}: {self.trials} exchanges, {self.retries} client retries, "
            f"failures: {found}"
        )

    def describe(self) -> str:
        return "\n".join([self.summary(), *self.examples[:10]])


def check(
    scenario: str,
    exchanges: Sequence[Exchange],
    histories: dict[str, list[dict[str, Any]]],
    *,
    allow_refused: bool = True,
) -> Report:
    """Compare what clients saw with each session's stored history (its messages, oldest
    first, as `GET …/history` gives them). Refused sends (a 4xx the client was told of)
    are not failures unless `allow_refused` is off."""
    counts: Counter[str] = Counter()
    examples: list[str] = []

    def fail(kind: str, what: str) -> None:
        counts[kind] += 1
        examples.append(f"{kind}: {what}")

    by_session: dict[str, list[Exchange]] = {}
    for ex in exchanges:
        if ex.refused is not None:
            counts["refused"] += 1
            if not allow_refused:
                fail("failed_run", f"{ex.message!r} refused with {ex.refused}")
            continue
        by_session.setdefault(ex.session_id, []).append(ex)
        if ex.outcome is None:
            fail("lost_turn", f"{ex.message!r} (run {ex.run_id}) never ended")
        elif ex.outcome != "done":
            fail("failed_run", f"{ex.message!r} ended with {ex.events[-1].data}")
        if ex.gaps:
            fail("event_gap", f"{ex.message!r} skipped event ids {ex.gaps} times")
        if ex.repeats:
            fail("repeated_event", f"{ex.message!r} saw {ex.repeats} events twice")
        if ex.final_text is not None and ex.streamed_text() != ex.final_text:
            fail("token_mismatch", f"{ex.message!r}: {ex.streamed_text()!r} != done text")

    for session_id, sent in by_session.items():
        stored = histories.get(session_id, [])
        users = [m for m in stored if m["role"] == "user"]
        told = Counter(ex.message for ex in sent)
        kept = Counter(str(m["content"]) for m in users)
        for message in told - kept:
            fail("lost_turn", f"{message!r} is not in the history of {session_id}")
        for message in kept - told:
            fail("duplicated_turn", f"{message!r} is stored more often than sent")
        replies = _replies(stored)
        for ex in sent:
            answers = replies.get(ex.message, [])
            if len(answers) > 1:
                fail("duplicated_turn", f"{ex.message!r} has {len(answers)} replies stored")
            if ex.final_text is not None and answers and answers[0] != ex.final_text:
                fail("done_differs", f"{ex.message!r}: done text is not the stored reply")

    report = Report(
        scenario=scenario,
        trials=len(exchanges),
        counts=counts,
        examples=examples,
        retries=sum(ex.retries for ex in exchanges),
    )
    REPORTS.append(report)
    return report


def _replies(stored: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each user message's assistant replies (the final text of each turn)."""
    replies: dict[str, list[str]] = {}
    question: str | None = None
    for m in stored:
        if m["role"] == "user":
            question = str(m["content"])
            replies.setdefault(question, [])
        elif m["role"] == "assistant" and question is not None and not m.get("tool_calls"):
            replies[question].append(str(m["content"]))
    return replies


async def histories(
    gateway: str, headers_by_session: dict[str, dict[str, str]]
) -> dict[str, list[dict[str, Any]]]:
    """Every session's whole stored history, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as api:
        for session_id, headers in headers_by_session.items():
            r = await api.get(
                f"/conversation/session/{session_id}/history",
                params={"limit": 500},
                headers=headers,
            )
            r.raise_for_status()
            found[session_id] = r.json()["messages"]
    return found
