"""Prometheus metrics of the agent workers (names in infra/README.md)."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from prometheus_client import Counter, Gauge, Histogram

from llmsvc.common import subjects
from llmsvc.common.logging import get_logger

log = get_logger(__name__)

RUNS_STARTED = Counter(
    "llm_worker_runs_started_total", "Runs this worker began (first deliveries and retries)"
)
RUNS_REDELIVERED = Counter(
    "llm_worker_runs_redelivered_total",
    "Jobs taken again after a worker died, stopped, or failed on them",
)
RUNS_ENDED = Counter(
    "llm_worker_runs_ended_total",
    "Runs ended with a terminal event, by outcome (done, error, cancelled) and error code",
    labelnames=("outcome", "code"),
)
RUNS_ACTIVE = Gauge("llm_worker_runs_active", "Jobs this worker is running now")
RUN_SECONDS = Histogram(
    "llm_worker_run_seconds",
    "From taking a job to its terminal event",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
TIME_TO_FIRST_TOKEN = Histogram(
    "llm_worker_time_to_first_token_seconds",
    "From taking a job to publishing its first token (the model's share of the latency)",
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
MODEL_ERRORS = Counter(
    "llm_worker_model_errors_total",
    "Model calls that ended a run with an error, by code (model_rate_limited, "
    "model_unreachable, model_timeout, model_error, …)",
    labelnames=("code",),
)
TOKENS = Counter(
    "llm_worker_model_tokens_total",
    "Tokens the model reported for finished runs, by kind (input, output)",
    labelnames=("kind",),
)
JOBS_PENDING = Gauge(
    "llm_jobs_pending",
    "Jobs in the queue no worker has taken yet (the jobs consumer's pending count): the "
    "signal to scale workers on",
)
JOBS_IN_PROGRESS = Gauge(
    "llm_jobs_in_progress", "Jobs taken by a worker and not yet acknowledged (all workers)"
)
JOBS_REDELIVERED = Gauge(
    "llm_jobs_redelivered", "Jobs delivered more than once and not yet acknowledged"
)


async def watch_queue(js: JetStreamContext, every_s: float = 10.0) -> None:
    """Keep the queue gauges current from the jobs consumer's state (one request to
    JetStream every `every_s`; each worker reports the same shared numbers)."""
    while True:
        try:
            info = await js.consumer_info(subjects.AGENT_JOBS_STREAM, subjects.AGENT_JOBS_CONSUMER)
        except Exception as exc:  # the consumer is made by the job loop; NATS may be away
            log.debug("queue_info_unavailable", error=repr(exc))
        else:
            JOBS_PENDING.set(info.num_pending or 0)
            JOBS_IN_PROGRESS.set(info.num_ack_pending or 0)
            JOBS_REDELIVERED.set(info.num_redelivered or 0)
        await asyncio.sleep(every_s)
