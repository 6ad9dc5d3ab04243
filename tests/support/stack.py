"""The whole system as real processes, for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmsvc.common.broker_setup import BrokerFiles
from llmsvc.common.ids import new_id
from llmsvc.common.nats_identity import NatsIdentity
from tests.support.broker import identity_of, seed_env
from tests.support.procs import Proc, free_port, service_proc


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    gateway_port: int
    web_port: int
    broker: BrokerFiles | None = None
    procs: dict[str, Proc] = field(default_factory=dict)

    def nats_identity(self, name: str = "harness") -> NatsIdentity:
        return identity_of(self.broker, name)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def add(
        self,
        name: str,
        script: str,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        **extra_env: str,
    ) -> Proc:
        env = {**self.env, **seed_env(self.broker, script), **(env or {}), **extra_env}
        proc = service_proc(name, script, env, self.workdir, port=port)
        self.procs[name] = proc
        return proc.start()

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{p.tail(40)}" for n, p in self.procs.items())


@contextlib.contextmanager
def running_stack(
    workdir: Path,
    *,
    nats_url: str,
    mongo_uri: str,
    model_url: str,
    web: bool = False,
    extra_env: Mapping[str, str] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
    broker: BrokerFiles | None = None,
) -> Iterator[Stack]:
    """Every service as a process; `broker` gives each its NATS identity; `service_env`
    adds settings of one service only (by its name: auth, sessions, worker, gateway,
    web)."""
    gateway_port, web_port = free_port(), free_port()
    env = {
        "ENVIRONMENT": "test",
        "NATS_URL": nats_url,
        "MONGO_URI": mongo_uri,
        "MONGO_DB": f"e2e{new_id()[:10]}",
        "JWT_KEY_PASSPHRASE": new_id() + new_id(),
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "mock-model",
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_URL": f"http://127.0.0.1:{gateway_port}",
        "WEB_PORT": str(web_port),
        "WEB_SESSION_SECRET": new_id() + new_id(),
        "JOB_ACK_WAIT_S": "6",
        "LOG_LEVEL": "INFO",
        # Every user of a test or bench comes from 127.0.0.1: per-address limits would
        # count them all as one client. Per-account limits stay as configured.
        "REGISTRATIONS_PER_ADDRESS": "100000",
        "LOGIN_FAILURES_PER_ADDRESS": "100000",
        "REFRESHES_PER_ADDRESS": "100000",
        # Tests and benchmarks run many turns per user quickly; the quota tests set
        # their own limits. The quotas are still counted (and so measured).
        "MAX_ACTIVE_RUNS_PER_USER": "0",
        "RUNS_PER_MINUTE_PER_USER": "0",
        "TOKENS_PER_DAY_PER_USER": "0",
        "CONVERSATIONS_PER_HOUR_PER_USER": "0",
        **(extra_env or {}),
    }
    stack = Stack(
        workdir=workdir, env=env, gateway_port=gateway_port, web_port=web_port, broker=broker
    )
    own = service_env or {}
    try:
        stack.add("auth", "llm-auth", env=own.get("auth"))
        stack.add("sessions", "llm-sessions", env=own.get("sessions"))
        stack.add("worker", "llm-agent-worker", env=own.get("worker"))
        stack.add("gateway", "llm-gateway", port=gateway_port, env=own.get("gateway"))
        if web:
            stack.add("web", "llm-web", port=web_port, env=own.get("web"))
        yield stack
    finally:
        stack.stop()


async def wait_for_responders(
    nats_url: str,
    subject_list: list[str],
    *,
    timeout_s: float = 60,
    identity: NatsIdentity | None = None,
) -> None:
    """Wait until every request/reply subject has a live responder (any reply counts)."""
    import asyncio

    import nats
    from nats.errors import NoRespondersError
    from nats.errors import TimeoutError as NatsTimeoutError

    nc = await nats.connect(nats_url, **(identity or NatsIdentity()).connect_options())
    try:
        async with asyncio.timeout(timeout_s):
            for subject in subject_list:
                while True:
                    try:
                        await nc.request(subject, b"{}", timeout=2)
                        break
                    except (NoRespondersError, NatsTimeoutError):
                        await asyncio.sleep(0.1)
    finally:
        await nc.close()
