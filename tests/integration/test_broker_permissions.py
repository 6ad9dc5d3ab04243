"""The permission matrix against the real nats-server running the generated
configuration: for each service identity and each subject family, what it may and may
not publish and subscribe, as the server enforces it (a permissions violation), and
that a forged message never reaches the service it is aimed at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from llmsvc.common import subjects
from tests.support.infra import Infra

pytestmark = pytest.mark.integration

SERVICES = ("gateway", "auth", "sessions", "agent-worker")


class Connection:
    """One identity's connection, recording the server's permission violations."""

    def __init__(self) -> None:
        self.nc: NATS | None = None
        #: The server's refusals, lower-cased as nats-py reports them.
        self.violations: list[str] = []
        self._refused = asyncio.Event()

    async def on_error(self, exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            self.violations.append(str(exc).lower())
            self._refused.set()

    async def violated(self, action: Callable[[NATS], Awaitable[object]], subject: str) -> bool:
        """Whether the server refused `action` on `subject` (a publish or a subscribe).

        The server's refusals come back in order: after the action, a publish everyone
        is refused marks the point by which the action's refusal, if any, has come."""
        assert self.nc is not None
        before = len(self.violations)
        await action(self.nc)
        marker = f"$JS.API.STREAM.DELETE.MARKER{len(self.violations)}"
        await self.nc.publish(marker, b"")
        await self.nc.flush()
        async with asyncio.timeout(10):
            while True:
                self._refused.clear()  # no await between this and the check below
                if any(marker.lower() in v for v in self.violations[before:]):
                    break
                await self._refused.wait()
        return any(f'"{subject.lower()}"' in v for v in self.violations[before:])

    async def may_publish(self, subject: str) -> bool:
        return not await self.violated(lambda nc: nc.publish(subject, b"{}"), subject)

    async def may_subscribe(self, subject: str) -> bool:
        return not await self.violated(lambda nc: nc.subscribe(subject), subject)


@pytest.fixture
async def conns(infra: Infra) -> AsyncIterator[dict[str, Connection]]:
    if infra.broker is None:
        pytest.skip("this run's NATS was not started by the tests (no generated identities)")
    out: dict[str, Connection] = {}
    for name in SERVICES:
        conn = Connection()
        conn.nc = await nats.connect(
            infra.nats_url,
            error_cb=conn.on_error,
            max_reconnect_attempts=0,
            **infra.nats_identity(name).connect_options(),
        )
        out[name] = conn
    yield out
    for conn in out.values():
        assert conn.nc is not None
        await conn.nc.close()


def only(*allowed: str) -> dict[str, bool]:
    return {name: name in allowed for name in SERVICES}


PUBLISH = {
    # Requests that carry a user_id: the gateway's alone.
    subjects.SESSIONS_LIST: only("gateway"),
    subjects.SESSIONS_DELETE: only("gateway"),
    subjects.AGENT_HISTORY: only("gateway"),
    subjects.AUTH_LOGIN: only("gateway"),
    subjects.AUTH_API_KEYS_VERIFY: only("gateway"),
    # Jobs and cancels: the gateway's; run events: the workers' (and a gateway's
    # `no_worker` error for a run nobody took, whose job it then deletes).
    subjects.AGENT_JOBS_SUBJECT: only("gateway"),
    subjects.run_cancel("r1"): only("gateway"),
    subjects.run_events("r1"): only("agent-worker", "gateway"),
    "$JS.API.STREAM.MSG.DELETE.AGENT_JOBS": only("gateway"),
    "$JS.API.STREAM.MSG.DELETE.AGENT_EVENTS": only(),
    # The automatic title: the workers'; session announcements: the sessions service's.
    subjects.SESSIONS_TITLE: only("agent-worker"),
    subjects.SESSIONS_DELETED: only("sessions"),
    subjects.SESSIONS_UPDATED: only("sessions"),
    # KV writes: run locks and quotas (gateway, workers), revocations (gateway, auth),
    # the login throttle (auth).
    "$KV.agent_active_runs.s1": only("gateway", "agent-worker"),
    "$KV.agent_run_cancels.r1": only("gateway", "agent-worker"),
    "$KV.user_quotas.u1": only("gateway", "agent-worker"),
    "$KV.auth_revoked_access_tokens.j1": only("gateway", "auth"),
    "$KV.auth_throttle.k1": only("auth"),
    # Nobody deletes or purges a stream or a bucket, or deletes another's consumers.
    "$JS.API.STREAM.PURGE.KV_auth_revoked_access_tokens": only(),
    "$JS.API.STREAM.DELETE.KV_agent_active_runs": only(),
    "$JS.API.STREAM.PURGE.AGENT_JOBS": only(),
    "$JS.API.STREAM.DELETE.AGENT_EVENTS": only(),
    "$JS.API.CONSUMER.DELETE.AGENT_JOBS.agent-workers": only("agent-worker"),
    # Reading a bucket: only those that use it.
    "$JS.API.DIRECT.GET.KV_auth_throttle.$KV.auth_throttle.k1": only("auth"),
}

SUBSCRIBE = {
    # Passwords and tokens travel on auth.v1.>: only auth hears them.
    subjects.AUTH_LOGIN: only("auth"),
    "auth.v1.>": only("auth"),
    subjects.SESSIONS_LIST: only("sessions"),
    subjects.AGENT_JOBS_SUBJECT: only(),  # workers pull them through JetStream
    subjects.AGENT_HISTORY: only("agent-worker"),
    # Conversations as they stream: nobody follows them outside JetStream consumers.
    "agent.v1.runs.>": only(),
    subjects.RUN_EVENTS_WILDCARD: only(),
    subjects.RUN_CANCEL_WILDCARD: only("agent-worker"),
    subjects.SESSIONS_UPDATED: only("gateway"),
    # Another service's replies, or everyone's.
    "_INBOX.>": only(),
    "_INBOX_auth.>": only("auth"),
    "_INBOX_gateway.>": only("gateway"),
    "_INBOX_sessions.>": only("sessions"),
    "_INBOX_agent_worker.>": only("agent-worker"),
    ">": only(),
}


@pytest.mark.parametrize("subject", list(PUBLISH))
async def test_who_may_publish(conns: dict[str, Connection], subject: str) -> None:
    found = {name: await conn.may_publish(subject) for name, conn in conns.items()}
    assert found == PUBLISH[subject]


@pytest.mark.parametrize("subject", list(SUBSCRIBE))
async def test_who_may_subscribe(conns: dict[str, Connection], subject: str) -> None:
    found = {name: await conn.may_subscribe(subject) for name, conn in conns.items()}
    assert found == SUBSCRIBE[subject]


async def test_a_forged_request_never_reaches_the_service(conns: dict[str, Connection]) -> None:
    sessions = conns["sessions"].nc
    assert sessions is not None
    received: list[bytes] = []

    async def handler(msg: Msg) -> None:
        received.append(msg.data)

    await sessions.subscribe("sessions.v1.list", queue="probe", cb=handler)
    await sessions.flush()
    forged = b'{"user_id": "someone-else", "limit": 100}'
    for name in ("agent-worker", "auth"):
        conn = conns[name]
        assert await conn.violated(
            lambda nc: nc.publish("sessions.v1.list", forged), "sessions.v1.list"
        )
    gateway = conns["gateway"]
    assert gateway.nc is not None
    await gateway.nc.publish("sessions.v1.list", b'{"user_id": "u1"}')
    await gateway.nc.flush()
    for _ in range(100):
        if received:
            break
        await asyncio.sleep(0.01)
    assert received == [b'{"user_id": "u1"}']


async def test_anonymous_and_unknown_identities_are_refused(infra: Infra) -> None:
    if infra.broker is None:
        pytest.skip("this run's NATS was not started by the tests")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(infra.nats_url, max_reconnect_attempts=0, allow_reconnect=False)
    from llmsvc.common.broker_setup import new_user_seed

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            infra.nats_url,
            max_reconnect_attempts=0,
            allow_reconnect=False,
            nkeys_seed_str=new_user_seed(),
        )
