"""Driving one concurrency level: `concurrency` clients, a bounded number of requests,
a time limit after which no new request starts, and a hard stop after that."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stats import diff, ratio, summary
from bench.streams import StreamResult


@dataclass
class LevelRun:
    results: list[StreamResult] = field(default_factory=list)
    wall_s: float = 0.0
    #: Requests never started because the level's time limit had passed.
    skipped: int = 0
    #: Requests unfinished (running or not started) at the hard stop: counted as errors.
    cancelled: int = 0


async def run_level(
    request: Callable[[int], Awaitable[StreamResult]],
    *,
    concurrency: int,
    n_requests: int,
    time_limit_s: float,
    hard_limit_s: float,
    spread_s: float = 0.0,
) -> LevelRun:
    """Call `request(i)` for i in 0..n_requests-1 from `concurrency` clients; client k
    runs the requests i ≡ k (mod concurrency), one after another, and starts its first
    one k/concurrency × `spread_s` late. With `spread_s` about one stream's duration,
    arrivals are spread evenly instead of coming in synchronized waves of `concurrency`
    requests (replies of equal length keep closed-loop clients in step)."""
    run = LevelRun()
    t0 = time.monotonic()
    deadline = t0 + time_limit_s

    async def client(k: int) -> None:
        if spread_s > 0:
            await asyncio.sleep(spread_s * k / concurrency)
        for i in range(k, n_requests, concurrency):
            if time.monotonic() >= deadline:
                run.skipped += 1
                continue
            run.results.append(await request(i))

    tasks = [asyncio.create_task(client(k)) for k in range(min(concurrency, n_requests))]
    _done, pending = await asyncio.wait(tasks, timeout=hard_limit_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    started_or_skipped = len(run.results) + run.skipped
    run.cancelled = max(0, n_requests - started_or_skipped)
    run.results.extend(StreamResult(error="unfinished_at_hard_limit") for _ in range(run.cancelled))
    run.wall_s = time.monotonic() - t0
    return run


def describe(run: LevelRun) -> dict[str, Any]:
    """Latency, gap and rate figures of one level (milliseconds and tokens/s)."""
    ok = [r for r in run.results if r.ok]
    errors = [r for r in run.results if not r.ok]
    ttft = [r.ttft_s * 1000 for r in ok if r.ttft_s is not None]
    gaps = [g * 1000 for r in ok for g in r.gaps_s()]
    rates = [x for r in ok if (x := r.rate_tps()) is not None]
    tokens = sum(r.tokens for r in ok)
    events = sum(r.events for r in ok)
    by_kind: dict[str, int] = {}
    for r in errors:
        kind = r.error or "unknown"
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return {
        "requests": len(run.results),
        "ok": len(ok),
        "errors": len(errors),
        "errors_by_kind": by_kind,
        "skipped_after_time_limit": run.skipped,
        "wall_s": round(run.wall_s, 3),
        "ttft_ms": summary(ttft, digits=2),
        # The parts of TTFT: response headers (the gateway has checked the session and
        # queued the job), then `metadata` (a worker took the job), then the first token.
        "headers_ms": summary(
            [r.headers_s * 1000 for r in ok if r.headers_s is not None], digits=2
        ),
        "metadata_ms": summary(
            [r.metadata_s * 1000 for r in ok if r.metadata_s is not None], digits=2
        ),
        "inter_token_ms": summary(gaps, digits=2),
        "event_gap_ms": summary([g * 1000 for r in ok for g in r.event_gaps_s()], digits=2),
        "stream_rate_tps": summary(rates, digits=2),
        "total_ms": summary([r.total_s * 1000 for r in ok], digits=1),
        "tokens": tokens,
        "tokens_per_event": ratio(tokens, events, digits=3),
        "throughput_tps": round(tokens / run.wall_s, 1) if run.wall_s > 0 else None,
    }


def compare(baseline: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """What the service adds over the direct stream (service minus baseline)."""
    b_ttft, s_ttft = baseline["ttft_ms"], service["ttft_ms"]
    b_gap, s_gap = baseline["inter_token_ms"], service["inter_token_ms"]
    return {
        "added_ttft_ms_p50": diff(s_ttft["p50"], b_ttft["p50"], digits=2),
        "added_ttft_ms_p99": diff(s_ttft["p99"], b_ttft["p99"], digits=2),
        "added_inter_token_ms_p50": diff(s_gap["p50"], b_gap["p50"], digits=2),
        "added_inter_token_ms_p99": diff(s_gap["p99"], b_gap["p99"], digits=2),
        "token_rate_ratio": ratio(
            service["stream_rate_tps"]["p50"], baseline["stream_rate_tps"]["p50"]
        ),
        "throughput_ratio": ratio(service["throughput_tps"], baseline["throughput_tps"]),
    }


#: Which measured processes make up each line: role -> process-name prefix.
SERVICE_ROLES = {
    "gateway": "gateway",
    "worker": "worker",
    "nats": "nats",
    "mongo": "mongo",
    "sessions": "sessions",
    "auth": "auth",
}
RELAY_ROLES = {"gateway": "relay_gateway", "worker": "relay_worker", "nats": "nats"}


def cpu_ms_per_token(
    phase_cpu: dict[str, Any], tokens: int, roles: dict[str, str]
) -> dict[str, float | None]:
    """CPU milliseconds each role spent per delivered token during one phase, and their
    sum (`total`). Processes named `<prefix>…` (e.g. `worker2`) add up in their role;
    the model and the load client are part of neither line."""
    wall_s, cores = phase_cpu["wall_s"], phase_cpu["cores"]
    out: dict[str, float | None] = {}
    total = 0.0
    for role, prefix in roles.items():
        used = [v for name, v in cores.items() if name.startswith(prefix)]
        if not used:
            continue
        ms = sum(used) * wall_s * 1000
        total += ms
        out[role] = round(ms / tokens, 4) if tokens else None
    out["total"] = round(total / tokens, 4) if tokens else None
    return out
