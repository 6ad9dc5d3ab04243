"""Per-user quotas on a real JetStream KV bucket, as several gateways count at once."""

from __future__ import annotations

import asyncio
import time

import pytest
from nats.aio.client import Client as NATS

from llmsvc.common.errors import RateLimited
from llmsvc.common.ids import new_id
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.user_quotas import QuotaLimits, UserQuotas

pytestmark = pytest.mark.integration


async def quotas(
    nc: NATS, limits: QuotaLimits, now: list[float] | None = None, *, namespace: str = ""
) -> UserQuotas:
    """A replica's quotas, in a namespace of its own unless given one."""
    clock = (lambda: now[0]) if now is not None else time.time
    return await UserQuotas.open(
        nc.jetstream(), limits, namespace=namespace or new_id(), clock=clock
    )


async def test_runs_at_once_hold_across_concurrent_gateways(nc: NATS) -> None:
    limits = QuotaLimits(active_runs=2, runs_per_minute=0, tokens_per_day=0)
    deployment = new_id()
    gateway = await quotas(nc, limits, namespace=deployment)
    other = await quotas(nc, limits, namespace=deployment)  # a second replica
    locks = await RunLocks.open(nc.jetstream(), ttl_s=60)
    runs = [(new_id(), new_id()) for _ in range(6)]
    for run_id, session_id in runs:
        await locks.acquire(session_id, run_id)

    async def admit(replica: UserQuotas, run_id: str, session_id: str) -> bool:
        try:
            await replica.admit_run("u1", run_id, session_id, still_running=locks.holds)
        except RateLimited:
            return False
        return True

    admitted = await asyncio.gather(
        *(admit((gateway, other)[i % 2], r, s) for i, (r, s) in enumerate(runs))
    )
    assert sum(admitted) == 2
    assert len((await gateway.usage("u1"))["active"]) == 2
    # One finishes: one more fits.
    done = [r for (r, _), ok in zip(runs, admitted, strict=True) if ok][0]
    await gateway.run_ended("u1", done, tokens=10)
    run_id, session_id = new_id(), new_id()
    await locks.acquire(session_id, run_id)
    assert await admit(other, run_id, session_id)
    assert not await admit(gateway, *runs[-1])


async def test_a_run_whose_worker_vanished_stops_counting(nc: NATS) -> None:
    now = [time.time()]
    limits = QuotaLimits(active_runs=1, runs_per_minute=0, tokens_per_day=0)
    gateway = await quotas(nc, limits, now)
    locks = await RunLocks.open(nc.jetstream(), ttl_s=60)
    crashed_run, crashed_session = new_id(), new_id()
    await locks.acquire(crashed_session, crashed_run)
    await gateway.admit_run("u1", crashed_run, crashed_session, still_running=locks.holds)
    run_id, session_id = new_id(), new_id()
    await locks.acquire(session_id, run_id)
    with pytest.raises(RateLimited):
        await gateway.admit_run("u1", run_id, session_id, still_running=locks.holds)
    # Its lock expired (here: released) without the quota hearing of it. A run admitted
    # a moment ago may just not have its lock yet, so it still counts for a while...
    await locks.release(crashed_session, crashed_run)
    with pytest.raises(RateLimited):
        await gateway.admit_run("u1", run_id, session_id, still_running=locks.holds)
    # ...and then no longer.
    now[0] += 31
    await gateway.admit_run("u1", run_id, session_id, still_running=locks.holds)
    assert list((await gateway.usage("u1"))["active"]) == [run_id]


async def test_minute_day_and_hour_windows_reset(nc: NATS) -> None:
    now = [1_000_000 * 86_400.0 + 30.0]
    limits = QuotaLimits(
        active_runs=0, runs_per_minute=2, tokens_per_day=100, conversations_per_hour=1
    )
    gateway = await quotas(nc, limits, now)

    async def ran() -> None:
        async def anything(session_id: str, run_id: str) -> bool:
            return True

        run_id = new_id()
        await gateway.admit_run("u1", run_id, "s", still_running=anything)
        await gateway.run_ended("u1", run_id, tokens=40)

    await ran()
    await ran()
    with pytest.raises(RateLimited) as caught:
        await ran()
    assert caught.value.extra["retry_after_s"] == 31  # the minute ends in 30 s
    now[0] += 60
    with pytest.raises(RateLimited) as caught:  # 80 tokens used: one more run fits
        await ran()
        await ran()
    assert caught.value.extra["retry_after_s"] > 86_000 - 100
    assert "token" in str(caught.value)
    now[0] += 86_400
    await ran()  # a new day

    await gateway.admit_conversation("u1")
    with pytest.raises(RateLimited):
        await gateway.admit_conversation("u1")
    assert (await gateway.usage("u2")) == {}
    await gateway.admit_conversation("u2")
    now[0] += 3600
    await gateway.admit_conversation("u1")
