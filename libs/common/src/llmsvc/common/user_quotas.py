"""Per-user quotas, enforced across every gateway and worker (OWASP LLM10, unbounded
consumption): runs at once, runs per minute, model tokens per day, new conversations
per hour.

Each user has one entry in the `user_quotas` KV bucket holding all of it:
`{active: {run_id: [session_id, admitted_at]}, m, r, d, t, h, c}`, the minute `m` and its run count
`r`, the UTC day `d` and its token count `t`, the hour `h` and its new conversations
`c`. A gateway admits a run with one read and one compare-and-set write; the worker
that ran it takes it off and adds the tokens it used the same way. A run whose worker
died is not counted forever: when a user is at the limit of runs at once, runs whose
conversation lock no longer names them are dropped first (only runs admitted more than
`_SETTLE_S` ago: a run's lock is taken together with its admission).

A limit of 0 means no limit. Refusals are `RateLimited` (429 with `Retry-After`);
nothing already running is touched. A burst of writes that keeps colliding on one
user's entry is refused too (fail closed), never let through uncounted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType

from llmsvc.common import subjects
from llmsvc.common.errors import RateLimited
from llmsvc.common.kv_entries import Contended, JsonEntries, hashed, namespace_prefix
from llmsvc.common.logging import get_logger

__all__ = ["QuotaLimits", "UserQuotas"]

log = get_logger(__name__)

State = dict[str, Any]
#: Whether the run still holds its conversation (the run lock names it).
StillRunning = Callable[[str, str], Awaitable[bool]]

DAY_S = 86_400
#: An entry outlives the day whose tokens it counts.
_ENTRY_TTL_S = 2 * DAY_S
#: A user at the limit of runs at once is told to try again after this long.
_BUSY_RETRY_S = 5
#: A run admitted this recently may not hold its conversation's lock yet.
_SETTLE_S = 30.0


@dataclass(frozen=True)
class QuotaLimits:
    active_runs: int = 4
    runs_per_minute: int = 30
    tokens_per_day: int = 1_000_000
    conversations_per_hour: int = 100


class UserQuotas:
    def __init__(
        self,
        entries: JsonEntries,
        limits: QuotaLimits,
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries = entries
        self.limits = limits
        self._namespace = namespace_prefix(namespace)
        self._clock = clock

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        limits: QuotaLimits,
        *,
        namespace: str = "",
        clock: Callable[[], float] = time.time,
    ) -> UserQuotas:
        """`namespace` keeps deployments that share one NATS apart (their `MONGO_DB`)."""
        kv = await js.create_key_value(
            KeyValueConfig(bucket=subjects.QUOTAS_BUCKET, history=1, storage=StorageType.FILE)
        )
        entries = JsonEntries(js, kv, subjects.QUOTAS_BUCKET)
        return cls(entries, limits, namespace=namespace, clock=clock)

    async def admit_run(
        self, user_id: str, run_id: str, session_id: str, *, still_running: StillRunning
    ) -> None:
        """Count a run that is about to start, or raise RateLimited. One read and one
        write unless the user is at the limit of runs at once."""
        limits = self.limits
        key = self._key(user_id)

        def admit(state: State) -> tuple[State, None]:
            now = self._clock()
            minute, day = int(now // 60), int(now // DAY_S)
            if limits.tokens_per_day and state.get("d") == day:
                if int(state.get("t", 0)) >= limits.tokens_per_day:
                    raise RateLimited(
                        "daily model token quota used up; it resets at 00:00 UTC",
                        retry_after_s=int((day + 1) * DAY_S - now) + 1,
                    )
            runs = int(state.get("r", 0)) if state.get("m") == minute else 0
            if limits.runs_per_minute and runs >= limits.runs_per_minute:
                raise RateLimited(
                    f"at most {limits.runs_per_minute} runs a minute",
                    retry_after_s=int((minute + 1) * 60 - now) + 1,
                )
            active = dict(state.get("active") or {})
            if limits.active_runs and len(active) >= limits.active_runs:
                raise _AtLimit(active)
            active[run_id] = [session_id, now]
            return {**state, "active": active, "m": minute, "r": runs + 1}, None

        for attempt in range(2):
            try:
                await self._entries.change(key, admit, ttl_s=_ENTRY_TTL_S)
                return
            except _AtLimit as busy:
                # Runs whose worker died without saying so: drop them and try again.
                settled_before = self._clock() - _SETTLE_S
                settled = {r: v[0] for r, v in busy.active.items() if v[1] < settled_before}
                gone = await _ended(settled, still_running) if attempt == 0 else set()
                if not gone:
                    raise RateLimited(
                        f"at most {limits.active_runs} runs at once; wait for one to finish",
                        retry_after_s=_BUSY_RETRY_S,
                    ) from None
                await self._drop(key, gone)
            except Contended:
                # Fail closed: a burst that defeats the count is what the quota is for.
                log.warning("quota_contended", user_id=user_id)
                raise RateLimited("too many requests at once; try again", retry_after_s=1) from None

    async def run_ended(self, user_id: str, run_id: str, *, tokens: int = 0) -> None:
        """Take a run off the user's count and add the model tokens it used."""

        def end(state: State) -> tuple[State | None, None]:
            active = dict(state.get("active") or {})
            if run_id not in active and not tokens:
                return None, None
            active.pop(run_id, None)
            day = int(self._clock() // DAY_S)
            used = int(state.get("t", 0)) if state.get("d") == day else 0
            return {**state, "active": active, "d": day, "t": used + max(0, tokens)}, None

        try:
            await self._entries.change(self._key(user_id), end, ttl_s=_ENTRY_TTL_S)
        except Contended:
            log.warning("quota_contended", user_id=user_id)

    async def admit_conversation(self, user_id: str) -> None:
        """Count a new conversation, or raise RateLimited."""
        limit = self.limits.conversations_per_hour
        if not limit:
            return

        def admit(state: State) -> tuple[State, None]:
            now = self._clock()
            hour = int(now // 3600)
            count = int(state.get("c", 0)) if state.get("h") == hour else 0
            if count >= limit:
                raise RateLimited(
                    f"at most {limit} new conversations an hour",
                    retry_after_s=int((hour + 1) * 3600 - now) + 1,
                )
            return {**state, "h": hour, "c": count + 1}, None

        try:
            await self._entries.change(self._key(user_id), admit, ttl_s=_ENTRY_TTL_S)
        except Contended:
            log.warning("quota_contended", user_id=user_id)
            raise RateLimited("too many requests at once; try again", retry_after_s=1) from None

    async def usage(self, user_id: str) -> State:
        """What is counted for the user now (for tests and operators)."""
        current = await self._entries.get(self._key(user_id))
        return current[0] if current is not None else {}

    async def _drop(self, key: str, runs: set[str]) -> None:
        def drop(state: State) -> tuple[State, None]:
            active = {r: s for r, s in (state.get("active") or {}).items() if r not in runs}
            return {**state, "active": active}, None

        await self._entries.change(key, drop, ttl_s=_ENTRY_TTL_S)

    def _key(self, user_id: str) -> str:
        return f"{self._namespace}.{hashed(user_id)[:40]}"


class _AtLimit(Exception):
    def __init__(self, active: dict[str, list[Any]]) -> None:
        super().__init__("at the limit of runs at once")
        self.active = active


async def _ended(active: dict[str, str], still_running: StillRunning) -> set[str]:
    running = await asyncio.gather(*(still_running(s, r) for r, s in active.items()))
    return {run_id for run_id, alive in zip(active, running, strict=True) if not alive}
