"""Prometheus metrics of the gateway (names in infra/README.md); HTTP requests are
counted for every service by `llmsvc.common.metrics.HttpMetrics`."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

RUNS_STARTED = Counter("llm_gateway_runs_started_total", "Runs queued for a worker")
RUNS_REJECTED = Counter(
    "llm_gateway_runs_rejected_total",
    "Messages refused before a run was queued: run_active, quota (the user's run quotas), "
    "conversation_quota, queue_unavailable",
    labelnames=("reason",),
)
EVENT_STREAMS_OPEN = Gauge("llm_gateway_event_streams_open", "Clients following a run's events")
EVENTS_RELAYED = Counter(
    "llm_gateway_events_relayed_total", "Run events sent to clients", labelnames=("type",)
)
TIME_TO_FIRST_TOKEN = Histogram(
    "llm_gateway_time_to_first_token_seconds",
    "From a run being queued to its first token leaving for the client that sent it",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)


@functools.cache
def events_relayed(type_: str) -> Counter:
    """The counter of one event type (looked up once: `labels()` takes a lock and hashes
    its arguments, on every token otherwise)."""
    return EVENTS_RELAYED.labels(type_)
