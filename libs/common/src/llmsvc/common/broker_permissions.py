"""Who may do what on NATS: the one table every server configuration is made from.

Each service has its own NATS identity (an NKey user) and may publish and subscribe
only to the subjects it owns or calls, the JetStream API calls on its own streams and
KV buckets, and the replies addressed to its own inbox prefix (`_INBOX_<service>`), so
no service can read another's replies. Services that answer requests may publish to the
reply subject of a request they received, and to nothing else of the caller's
(`allow_responses`). Nobody may delete or purge a stream (a gateway deletes single
jobs it queued, see below).

What the table says, in short:

- only the gateway publishes jobs and the requests that carry a `user_id` (auth,
  sessions, history), and cancels;
- only auth subscribes to `auth.v1.>`, where passwords and tokens travel;
- workers publish run events but not jobs (a gateway stores one run event only: the
  `error` of a run that no worker took in time, which it may then delete from the jobs
  stream); sessions publishes session events;
- run locks, cancels and quotas are the gateway's and the workers' alone, the
  revocation list the gateway's and auth's, the login throttle auth's.

`server_config()` turns the table and the identities' public keys into the
`authorization` block of a nats-server configuration; `broker_setup` writes it, with
the keys, for development, tests, compose and Kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from llmsvc.common import subjects

__all__ = ["IDENTITIES", "Identity", "inbox_prefix", "server_authorization"]

AGENT_JOBS = subjects.AGENT_JOBS_STREAM
AGENT_EVENTS = subjects.AGENT_EVENTS_STREAM
SESSIONS_EVENTS = subjects.SESSIONS_EVENTS_STREAM
RUN_LOCKS = subjects.ACTIVE_RUNS_BUCKET
RUN_CANCELS = "agent_run_cancels"
REVOCATIONS = "auth_revoked_access_tokens"
THROTTLE = subjects.THROTTLE_BUCKET
QUOTAS = subjects.QUOTAS_BUCKET


def inbox_prefix(service: str) -> str:
    """Where a service's replies arrive: only it may subscribe there."""
    return f"_INBOX_{service.replace('-', '_')}"


def _stream(name: str, *, consume: bool = False, read: bool = False) -> list[str]:
    """Make sure the stream exists (create it, see and update its configuration), and
    optionally read single messages or follow it with consumers."""
    api = [
        f"$JS.API.STREAM.INFO.{name}",
        f"$JS.API.STREAM.CREATE.{name}",
        f"$JS.API.STREAM.UPDATE.{name}",
    ]
    if read:
        api += [f"$JS.API.STREAM.MSG.GET.{name}", f"$JS.API.DIRECT.GET.{name}.>"]
    if consume:
        api += [
            f"$JS.API.CONSUMER.CREATE.{name}",  # an ephemeral consumer, unnamed
            f"$JS.API.CONSUMER.CREATE.{name}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{name}.>",
            f"$JS.API.CONSUMER.INFO.{name}.>",
            f"$JS.API.CONSUMER.MSG.NEXT.{name}.>",
            f"$JS.API.CONSUMER.DELETE.{name}.>",
            f"$JS.ACK.{name}.>",
            f"$JS.FC.{name}.>",
        ]
    return api


def _bucket(name: str, *, watch: bool = False, write: bool = True) -> list[str]:
    """Use a KV bucket: read keys, write them (a publish on `$KV.<bucket>.<key>`), and
    optionally watch it."""
    stream = f"KV_{name}"
    api = _stream(stream, read=True, consume=watch)
    if write:
        api.append(f"$KV.{name}.>")
    return api


@dataclass(frozen=True)
class Identity:
    """One service's NATS user."""

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = ()
    #: It answers requests: it may publish to the reply subject of each one it gets.
    responds: bool = False

    @property
    def inbox(self) -> str:
        return inbox_prefix(self.name)

    def permissions(self) -> dict[str, object]:
        publish = [*self.publish, "$JS.API.INFO"]
        subscribe = [*self.subscribe, f"{self.inbox}.>"]
        perms: dict[str, object] = {
            "publish": {"allow": sorted(set(publish))},
            "subscribe": {"allow": sorted(set(subscribe))},
        }
        if self.responds:
            perms["allow_responses"] = {"max": 1, "expires": "1m"}
        return perms


_SESSIONS_CALLS = (
    subjects.SESSIONS_HEALTH,
    subjects.SESSIONS_CREATE,
    subjects.SESSIONS_GET,
    subjects.SESSIONS_LIST,
    subjects.SESSIONS_UPDATE,
    subjects.SESSIONS_DELETE,
    subjects.SESSIONS_TOUCH,
)

GATEWAY = Identity(
    "gateway",
    publish=(
        "auth.v1.>",
        *_SESSIONS_CALLS,
        subjects.AGENT_HISTORY,
        subjects.AGENT_JOBS_SUBJECT,
        subjects.RUN_CANCEL_WILDCARD,
        # The `no_worker` error of a run no worker took, and withdrawing its job.
        subjects.RUN_EVENTS_WILDCARD,
        f"$JS.API.STREAM.MSG.DELETE.{AGENT_JOBS}",
        *_stream(AGENT_JOBS),
        *_stream(AGENT_EVENTS, read=True, consume=True),
        *_bucket(RUN_LOCKS),
        *_bucket(RUN_CANCELS),
        *_bucket(REVOCATIONS, watch=True),
        *_bucket(QUOTAS),
    ),
    subscribe=(subjects.SESSIONS_DELETED, subjects.SESSIONS_UPDATED),
)

AUTH = Identity(
    "auth",
    publish=(*_bucket(THROTTLE), *_bucket(REVOCATIONS)),
    subscribe=("auth.v1.>",),
    responds=True,
)

SESSIONS = Identity(
    "sessions",
    publish=(
        subjects.SESSIONS_DELETED,
        subjects.SESSIONS_UPDATED,
        *_stream(SESSIONS_EVENTS),
    ),
    subscribe=(*_SESSIONS_CALLS, subjects.SESSIONS_TITLE),
    responds=True,
)

AGENT_WORKER = Identity(
    "agent-worker",
    publish=(
        subjects.SESSIONS_TITLE,
        subjects.RUN_EVENTS_WILDCARD,
        *_stream(AGENT_JOBS, consume=True),
        *_stream(AGENT_EVENTS, read=True),
        *_stream(SESSIONS_EVENTS, consume=True),
        *_bucket(RUN_LOCKS),
        *_bucket(RUN_CANCELS),
        *_bucket(QUOTAS),
    ),
    subscribe=(subjects.AGENT_HISTORY, subjects.RUN_CANCEL_WILDCARD),
    responds=True,
)

#: The services that speak NATS (web does not), by name.
IDENTITIES: Mapping[str, Identity] = {i.name: i for i in (GATEWAY, AUTH, SESSIONS, AGENT_WORKER)}

#: Test and benchmark harnesses only: everything. Never in a deployment's configuration.
HARNESS = Identity("harness", publish=(">",), subscribe=(">",), responds=True)


def server_authorization(users: Iterable[tuple[Identity, str]]) -> dict[str, object]:
    """The `authorization` block of a nats-server configuration: one NKey user per
    identity, given with its public key."""
    return {"users": [{"nkey": key, "permissions": i.permissions()} for i, key in users]}
