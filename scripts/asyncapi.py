"""The AsyncAPI document of every NATS contract, written to `docs/asyncapi.json`.

    make asyncapi                    # or: .venv/bin/python -m scripts.asyncapi
    .venv/bin/python -m scripts.asyncapi --check   # exit 1 if the committed file is stale

FastStream builds it, as `faststream docs gen` does: where FastStream's CLI extra is
installed (`faststream[cli]`; this workspace does not install it),
`faststream docs gen --factory scripts.asyncapi:application -o docs/asyncapi.json` gives
the same document and `faststream docs serve --factory scripts.asyncapi:application`
shows it in a browser. `tests/unit/test_asyncapi.py` checks that the committed file is
current and that every subject, stream and bucket name of `llmsvc.common` appears in it.

Where each part comes from, so that the document follows the code:

- auth and sessions: their real subscriptions, declared by the services' own
  `register_handlers` on a broker that is never connected. Each handler names the
  contract it validates (`documented_as`) and a description, since it takes the
  payload raw;
- what the services do with nats-py directly (the gateway's jobs, cancels, run-event
  consumers and cache listeners; the workers' job and clean-up consumers, run events,
  cancels and history; the sessions service's announcements; the KV buckets): declared
  below, on documentation-only brokers, with the subject constants of
  `llmsvc.common.subjects`, the stream configurations of `llmsvc.common.streams` and the
  pydantic contracts of `llmsvc.common.contracts`.

This is a development tool: it may import every service; no service imports it.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from faststream import FastStream
from faststream.nats import NatsBroker, PullSub
from faststream.specification import AsyncAPI
from nats.js.api import StreamConfig

from llmsvc.agent_worker.settings import WorkerSettings
from llmsvc.auth.handlers import register_handlers as register_auth_handlers
from llmsvc.common import broker_permissions, subjects
from llmsvc.common.contracts.agent import HistoryRequest, RunEvent, RunJob
from llmsvc.common.contracts.sessions import SessionDeleted, SessionUpdated
from llmsvc.common.streams import (
    RUN_EVENTS_CONSUMER_IDLE_S,
    agent_events_stream,
    agent_jobs_stream,
    sessions_events_stream,
)
from llmsvc.sessions.handlers import register_handlers as register_sessions_handlers

__all__ = ["OUTPUT", "application", "document", "main", "specification"]

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "asyncapi.json"

#: The NATS of `make dev`; a deployment names its own (`NATS_URL`).
SERVER = "nats://127.0.0.1:4222"

_WORKER_DEFAULTS = WorkerSettings.model_fields
RUN_EVENTS_TTL_S = float(_WORKER_DEFAULTS["run_events_ttl_s"].default)
RUN_LOCK_TTL_S = int(_WORKER_DEFAULTS["run_lock_ttl_s"].default)
JOB_ACK_WAIT_S = float(_WORKER_DEFAULTS["job_ack_wait_s"].default)
JOB_MAX_DELIVER = int(_WORKER_DEFAULTS["job_max_deliver"].default)


def _kv(bucket: str) -> str:
    """The subjects a bucket's entries are written on (`$KV.<bucket>.<key>`)."""
    return f"$KV.{bucket}.>"


def _stream(config: StreamConfig) -> str:
    """One stream's configuration, as the services create it (`llmsvc.common.streams`)."""
    parts = [
        f"subjects {', '.join(f'`{s}`' for s in config.subjects or [])}",
        f"{config.retention.value if config.retention else 'limits'} retention",
        f"{config.storage.value if config.storage else 'file'} storage",
    ]
    if config.max_age:
        parts.append(f"max age {config.max_age:g} s")
    if config.duplicate_window:
        parts.append(f"duplicate window {config.duplicate_window:g} s")
    if config.max_consumers:
        parts.append(f"at most {config.max_consumers} consumers")
    return f"`{config.name}`: {', '.join(parts)}"


JOBS_STREAM = agent_jobs_stream()
EVENTS_STREAM = agent_events_stream(RUN_EVENTS_TTL_S)
SESSIONS_STREAM = sessions_events_stream()
STREAMS = (JOBS_STREAM, EVENTS_STREAM, SESSIONS_STREAM)

#: Every KV bucket, as `broker_permissions` names them, and what its entries are.
BUCKETS = {
    broker_permissions.RUN_LOCKS: "session id → the id of the run answering in it (TTL "
    f"`RUN_LOCK_TTL_S`, {RUN_LOCK_TTL_S} s)",
    broker_permissions.RUN_CANCELS: "run id → the user id that asked to cancel it (TTL "
    f"`RUN_EVENTS_TTL_S`, {RUN_EVENTS_TTL_S:g} s)",
    broker_permissions.QUOTAS: "`<namespace>.<hashed user id>` → JSON `{active, m, r, d, t, h, c}` "
    "(TTL 2 days)",
    broker_permissions.REVOCATIONS: "`<jti>`, `family-<sid>` or `apikey-<key_id>` → the Unix "
    "time until which the entry matters (TTL until then)",
    broker_permissions.THROTTLE: "`<namespace>.<limit>.<hashed key>` → JSON `{n, until}` (TTL the "
    "limit's window)",
}


def _info() -> str:
    streams = "\n".join(f"- {_stream(config)}" for config in STREAMS)
    buckets = "\n".join(f"- `{name}`: {what}" for name, what in BUCKETS.items())
    return f"""\
Every message between the services of llmsvc over NATS: request/reply subjects (auth,
sessions, the workers' history), the run jobs and run events on JetStream, cancels,
session announcements, and the KV buckets (written as messages on `$KV.<bucket>.<key>`).
Generated from the code by `make asyncapi` (scripts/asyncapi.py); the narrative, who may
publish what, and the guarantees are in docs/nats-contracts.md and docs/design.md §3.

Subjects are versioned (`<service>.v1.<verb>`); payloads are JSON and unknown fields are
ignored. Every request is answered with an envelope, `{{"ok": true, "data": …}}` or
`{{"ok": false, "error": {{"code", "message", "status", …}}}}`; a channel's description
names its reply's `data`. In addresses, `*` stands for one id (a run id) and `>` for
a KV key.

JetStream streams (created idempotently at start-up by the services that use them):

{streams}

KV buckets (file storage, history 1, a TTL per entry):

{buckets}
"""


async def _not_served() -> NoReturn:
    raise RuntimeError("a documentation broker serves nothing")


def _unserved(*_: object) -> NoReturn:
    raise RuntimeError("a documentation broker serves nothing")


def auth_broker() -> NatsBroker:
    """auth's subscriptions, declared by auth itself, and the buckets it writes."""
    broker = NatsBroker(SERVER)
    register_auth_handlers(broker, _unserved, max_workers=1)
    broker.publisher(
        _kv(broker_permissions.THROTTLE),
        title=f"{_kv(broker_permissions.THROTTLE)}:AttemptCounter",
        schema=dict[str, Any],
        description="**auth** counts failed logins (per account and address, per account, per "
        "address), registrations and refreshes per address: one entry per counter, "
        "`{n, until}`, changed by compare-and-set and shared by every auth replica. At the "
        "limit, requests get 429 `rate_limited` until `until`.",
    )
    return broker


def sessions_broker() -> NatsBroker:
    """sessions' subscriptions, declared by sessions itself, and what it announces."""
    broker = NatsBroker(SERVER)
    register_sessions_handlers(broker, _unserved, max_workers=1)
    broker.publisher(
        subjects.SESSIONS_DELETED,
        title=f"{subjects.SESSIONS_DELETED}:AnnounceDeletion",
        schema=SessionDeleted,
        stream=subjects.SESSIONS_EVENTS_STREAM,
        description="**sessions** announces a deleted conversation on JetStream (stream "
        f"{_stream(SESSIONS_STREAM)}), header `Nats-Msg-Id` = the session id, after hiding "
        "it and before removing it; a start-up sweep announces deletions whose announcement "
        "failed. Agent workers delete its messages and checkpoints; gateways drop it from "
        "their cache.",
    )
    broker.publisher(
        subjects.SESSIONS_UPDATED,
        title=f"{subjects.SESSIONS_UPDATED}:AnnounceUpdate",
        schema=SessionUpdated,
        description="**sessions** tells every gateway (core NATS, best effort) that a "
        f"conversation changed (`{subjects.SESSIONS_UPDATE}`, `{subjects.SESSIONS_TITLE}`), "
        "so cached sessions follow.",
    )
    return broker


def gateway_broker() -> NatsBroker:
    """What the gateway does with nats-py (its requests are the services' subscriptions)."""
    broker = NatsBroker(SERVER)
    broker.publisher(
        subjects.AGENT_JOBS_SUBJECT,
        title=f"{subjects.AGENT_JOBS_SUBJECT}:QueueRun",
        schema=RunJob,
        stream=subjects.AGENT_JOBS_STREAM,
        description="**gateway** queues a run (`POST /conversation`, regenerate, "
        f"`POST /v1/chat/completions`) on JetStream, stream {_stream(JOBS_STREAM)}. Header "
        "`Nats-Msg-Id` = the run id, so a retried publish never starts a second run. The "
        "gateway has taken the conversation's lock and the user's quota first.",
    )
    broker.publisher(
        subjects.RUN_CANCEL_WILDCARD,
        title=f"{subjects.RUN_CANCEL_WILDCARD}:CancelRun",
        schema=dict[str, Any],
        description="**gateway** asks the worker running a run to cancel it "
        f"(`POST /conversation/runs/{{run_id}}/cancel`): core NATS on `{subjects.run_cancel('*')}` "
        f"with the run id, payload `{{}}`. The cancel is also kept in the bucket "
        f"`{broker_permissions.RUN_CANCELS}` for a run no worker has started yet.",
    )

    @broker.subscriber(
        subjects.RUN_EVENTS_WILDCARD,
        stream=subjects.AGENT_EVENTS_STREAM,
        ordered_consumer=True,
        description="**gateway** follows one run's events (`*` = the run id) for an SSE or "
        "OpenAI stream, from any replica: an ordered push consumer on stream "
        f"`{subjects.AGENT_EVENTS_STREAM}`, delivering all, deleted by the server "
        f"{RUN_EVENTS_CONSUMER_IDLE_S:g} s after the client left. Events at or before "
        "`Last-Event-ID` are skipped. The newest event also tells who owns a run.",
    )
    async def follow_run(event: RunEvent) -> None:
        await _not_served()

    @broker.subscriber(
        subjects.SESSIONS_DELETED,
        description="**gateway** drops a deleted conversation from its cache of checked "
        "sessions (core NATS subscription: every gateway hears it).",
    )
    async def forget_session(event: SessionDeleted) -> None:
        await _not_served()

    @broker.subscriber(
        subjects.SESSIONS_UPDATED,
        description="**gateway** takes the new version of a cached session, so the next "
        "run uses its new model and instructions.",
    )
    async def refresh_session(event: SessionUpdated) -> None:
        await _not_served()

    @broker.subscriber(
        _kv(broker_permissions.REVOCATIONS),
        description="**gateway** watches the revocation bucket (a consumer on its stream "
        f"`KV_{broker_permissions.REVOCATIONS}`) and checks every request in memory; it is "
        "not ready before the stored entries are read.",
    )
    async def watch_revocations(expires: int) -> None:
        await _not_served()

    broker.publisher(
        _kv(broker_permissions.RUN_LOCKS),
        title=f"{_kv(broker_permissions.RUN_LOCKS)}:RunLock",
        schema=str,
        description="One active run per conversation: key the session id, value the run id. "
        "**gateway** creates the entry before queueing a run (only one create wins; "
        "otherwise 409 `run_active` with the holder's id) and reads it for "
        "`active_run_id`; **agent-worker** claims it (again if it expired while queued), "
        f"renews it every quarter of `RUN_LOCK_TTL_S` ({RUN_LOCK_TTL_S} s) by compare-and-set "
        "and deletes it before the terminal event. A crashed holder's entry expires.",
    )
    broker.publisher(
        _kv(broker_permissions.RUN_CANCELS),
        title=f"{_kv(broker_permissions.RUN_CANCELS)}:RunCancel",
        schema=str,
        description="Cancels of runs that no worker has started yet: key the run id, value "
        "the user id that asked. **gateway** creates it; **agent-worker** checks it when it "
        "takes the job and honours it only from the run's owner. TTL `RUN_EVENTS_TTL_S`.",
    )
    broker.publisher(
        _kv(broker_permissions.QUOTAS),
        title=f"{_kv(broker_permissions.QUOTAS)}:UserQuota",
        schema=dict[str, Any],
        description="Per-user quotas, one entry per user `{active: {run_id: [session_id, "
        "admitted_at]}, m, r, d, t, h, c}`: runs going on, this minute's runs, today's (UTC) "
        "model tokens, this hour's new conversations. **gateway** admits runs and "
        "conversations by compare-and-set; **agent-worker** takes a finished run off and "
        "adds its tokens.",
    )
    broker.publisher(
        _kv(broker_permissions.REVOCATIONS),
        title=f"{_kv(broker_permissions.REVOCATIONS)}:Revocation",
        schema=int,
        description="Access tokens and API keys refused before they expire. **gateway** "
        "writes `<jti>` at logout; **auth** writes `family-<sid>` (every token of a login "
        "ended by a password change, log out everywhere or a reused refresh token) and "
        "`apikey-<key_id>` (a revoked key). The value is the Unix time until which the "
        "entry matters; each entry's TTL ends then.",
    )
    return broker


def worker_broker() -> NatsBroker:
    """What the agent workers do with nats-py."""
    broker = NatsBroker(SERVER)

    @broker.subscriber(
        subjects.AGENT_JOBS_SUBJECT,
        stream=subjects.AGENT_JOBS_STREAM,
        durable=subjects.AGENT_JOBS_CONSUMER,
        pull_sub=PullSub(batch_size=1),
        description="**agent-worker** takes runs from the durable pull consumer "
        f"`{subjects.AGENT_JOBS_CONSUMER}` on stream `{subjects.AGENT_JOBS_STREAM}`, one "
        "fetch per free slot (`WORKER_CONCURRENCY`): explicit ack, `ack_wait` "
        f"`JOB_ACK_WAIT_S` ({JOB_ACK_WAIT_S:g} s) kept alive by `in_progress` every third of "
        f"it, at most `JOB_MAX_DELIVER` ({JOB_MAX_DELIVER}) deliveries. The job is acked "
        "after its terminal event is stored; a failed attempt is nak'ed with a delay, the "
        "last one ends the run with an `error` event; a malformed job is terminated.",
    )
    async def take_job(job: RunJob) -> None:
        await _not_served()

    broker.publisher(
        subjects.RUN_EVENTS_WILDCARD,
        title=f"{subjects.RUN_EVENTS_WILDCARD}:PublishRunEvent",
        schema=RunEvent,
        stream=subjects.AGENT_EVENTS_STREAM,
        description="**agent-worker** publishes a run's events on "
        f"`{subjects.run_events('*')}` (`*` = the run id), stream {_stream(EVENTS_STREAM)}. `seq` "
        "counts 1, 2, … per run; headers `Nats-Msg-Id` = `<run_id>:<seq>` and "
        "`Nats-Expected-Last-Subject-Sequence` = the stream sequence of the run's previous "
        "event, so a worker presumed dead cannot write after its successor. The first event "
        "is `metadata` (`reset` when another worker restarts the run); the last is one of "
        "`done`, `error`, `cancelled`. A **gateway** publishes one event only: `error` "
        "`no_worker` as the first event of a run no worker started within "
        "`RUN_START_TIMEOUT_S` (`Nats-Msg-Id` = `<run_id>:no_worker`, expected last "
        "sequence 0, as a worker's first event), so exactly one of the two is stored.",
    )

    @broker.subscriber(
        subjects.RUN_CANCEL_WILDCARD,
        description="**agent-worker** listens for a cancel of each run it executes (`*` = "
        "the run id; core NATS, subscribed before `metadata` is published). The payload is "
        "not read.",
    )
    async def stop_on_cancel(body: dict[str, Any]) -> None:
        await _not_served()

    @broker.subscriber(
        subjects.AGENT_HISTORY,
        queue=subjects.AGENT_QUEUE,
        description="**agent-worker** answers history reads (from the gateway, for "
        "`GET /conversation/session/{id}/history`) from its message store, only to the "
        "conversation's owner. Reply: a `HistoryPage`.",
    )
    async def history(request: HistoryRequest) -> None:
        await _not_served()

    @broker.subscriber(
        subjects.SESSIONS_DELETED,
        stream=subjects.SESSIONS_EVENTS_STREAM,
        durable=subjects.AGENT_SESSION_CLEANUP_CONSUMER,
        pull_sub=PullSub(batch_size=16),
        description="**agent-worker** deletes a deleted conversation's messages and "
        f"checkpoints: durable pull consumer `{subjects.AGENT_SESSION_CLEANUP_CONSUMER}` on "
        f"stream `{subjects.SESSIONS_EVENTS_STREAM}`, so it happens even if no worker was up "
        "at the time; deferred while the conversation still has a run.",
    )
    async def delete_conversation_data(event: SessionDeleted) -> None:
        await _not_served()

    return broker


def specification() -> AsyncAPI:
    return AsyncAPI(
        auth_broker(),
        sessions_broker(),
        gateway_broker(),
        worker_broker(),
        title="llmsvc NATS contracts",
        version="1.0.0",
        description=_info(),
    )


def application() -> FastStream:
    """For `faststream docs gen --factory scripts.asyncapi:application` (and `serve`)."""
    return FastStream(specification=specification())


def document() -> dict[str, Any]:
    """The document as JSON data. FastStream's warnings (two channels or schemas under one
    name) are errors here: they mean something was left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        schema: dict[str, Any] = specification().to_specification().to_jsonable()
    # FastStream lists the subscribers in no fixed order: sort the named maps (not the
    # schemas' properties), so that regenerating an unchanged document changes nothing.
    for key in ("channels", "operations"):
        schema[key] = dict(sorted(schema.get(key, {}).items()))
    components = schema.get("components", {})
    for key, named in components.items():
        components[key] = dict(sorted(named.items()))
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="only check the committed file")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(document())
    if args.check:
        if not args.out.exists() or json.loads(args.out.read_text()) != json.loads(text):
            sys.stderr.write(f"{args.out} is out of date: run `make asyncapi`\n")
            return 1
        return 0
    args.out.write_text(text)
    sys.stdout.write(f"wrote {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
