"""A conversation's automatic title: a second, small model call after its first
exchange, made after the reply is delivered (it never delays it), stored only while
nobody has named the conversation. A failing call leaves the name as it was."""

from __future__ import annotations

import asyncio
import contextlib
import re

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from llmsvc.common.clients import SessionsClient
from llmsvc.common.contracts.agent import RunJob
from llmsvc.common.contracts.sessions import SetAutoTitle
from llmsvc.common.logging import get_logger

log = get_logger(__name__)

TITLE_PROMPT = (
    "Write a title of at most six words for the conversation below. "
    "Answer with the title alone: no quotes, no trailing punctuation."
)
MAX_TITLE_CHARS = 60
#: How much of the exchange the title call reads.
EXCERPT_CHARS = 1000
TITLE_TIMEOUT_S = 30.0


def clean_title(text: str) -> str | None:
    """The first line of a model's answer as a title: unquoted, one space between words,
    cut at a word boundary to MAX_TITLE_CHARS; None when nothing is left."""
    line = next((ln for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(title\s*:\s*)", "", line.strip(), flags=re.IGNORECASE)
    line = " ".join(line.strip(" \"'`*#").split()).rstrip(".!,;:")
    if len(line) > MAX_TITLE_CHARS:
        cut = line[:MAX_TITLE_CHARS]
        line = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return line or None


async def suggest_title(model: ChatOpenAI, question: str, answer: str) -> str | None:
    exchange = f"User: {question[:EXCERPT_CHARS]}\nAssistant: {answer[:EXCERPT_CHARS]}"
    reply = await model.ainvoke(
        [SystemMessage(TITLE_PROMPT), HumanMessage(exchange)], max_completion_tokens=24
    )
    return clean_title(reply.text)


class Titler:
    """Titles conversations in the background; `close()` waits for none of them."""

    def __init__(self, sessions: SessionsClient) -> None:
        self._sessions = sessions
        self._tasks: set[asyncio.Task[None]] = set()

    def title_later(self, model: ChatOpenAI, job: RunJob, answer: str) -> None:
        task = asyncio.create_task(self._title(model, job, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _title(self, model: ChatOpenAI, job: RunJob, answer: str) -> None:
        try:
            async with asyncio.timeout(TITLE_TIMEOUT_S):
                title = await suggest_title(model, job.message, answer)
                if title is None:
                    return
                await self._sessions.set_auto_title(
                    SetAutoTitle(user_id=job.user_id, session_id=job.session_id, title=title)
                )
        except Exception as exc:  # the default name stays; nothing else depends on it
            log.warning("title_failed", session_id=job.session_id, error=repr(exc))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*self._tasks, return_exceptions=True)
