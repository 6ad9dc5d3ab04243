"""The bare relay: the leanest honest gateway → JetStream → worker → model → NATS → SSE
path, written for the benchmark only (never part of the product). It is the yardstick
the service's costs are divided by, so it does what the service must do on the run
path and nothing else:

- gateway (`bench.relay.gateway`): a raw ASGI app under uvicorn. `POST /relay` opens an
  ordered JetStream consumer on the run's event subject, publishes the job to a
  work-queue stream (awaiting its ack, `Nats-Msg-Id` = run id), and writes one SSE
  frame per event with a single `send` each;
- worker (`bench.relay.worker`): a durable pull consumer fetching one job per free slot,
  reads the model's stream with aiohttp, parses each `data:` line with orjson, and
  publishes each delta to JetStream with `publish_async` (a bounded window of
  unacknowledged publishes), then a final `done` event, then acks the job.

No auth, sessions, locks, fencing, checkpoints or history: those are what the service
adds, and the benchmark reports what they cost.
"""

JOBS_STREAM = "RELAY_JOBS"
JOBS_SUBJECT = "relay.jobs"
JOBS_CONSUMER = "relay-workers"
EVENTS_STREAM = "RELAY_EVENTS"


def events_subject(run_id: str) -> str:
    return f"relay.runs.{run_id}.events"
