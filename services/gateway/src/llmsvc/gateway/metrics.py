"""Prometheus metrics of the gateway (served at /metrics)."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge

RUNS_STARTED = Counter("llm_gateway_runs_started_total", "Runs queued for a worker")
RUNS_REJECTED = Counter("llm_gateway_runs_rejected_total", "Runs refused", labelnames=("reason",))
EVENT_STREAMS_OPEN = Gauge("llm_gateway_event_streams_open", "Clients following a run's events")
EVENTS_RELAYED = Counter(
    "llm_gateway_events_relayed_total", "Run events sent to clients", labelnames=("type",)
)


@functools.cache
def events_relayed(type_: str) -> Counter:
    """The counter of one event type (looked up once: `labels()` takes a lock and hashes
    its arguments, on every token otherwise)."""
    return EVENTS_RELAYED.labels(type_)
