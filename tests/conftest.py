"""Shared fixtures: real NATS (JetStream) and a real Mongo-compatible server.

Started on free ports in a temporary folder, or taken from NATS_URL / MONGO_URI when
those are set, or, with TEST_INFRA=containers, real `mongo:7` and `nats` started by
testcontainers (needs a Docker engine)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from llmsvc.common.ids import new_id
from llmsvc.common.nats_client import connect_nats
from tests.support.containers import docker_engine_available, mongo_and_nats_containers
from tests.support.infra import Infra
from tests.support.procs import start_mongo, start_nats


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    workdir = tmp_path_factory.mktemp("infra")
    if os.environ.get("TEST_INFRA") == "containers":
        ok, why = docker_engine_available()
        if not ok:
            pytest.fail(f"TEST_INFRA=containers but {why}")
        with mongo_and_nats_containers() as (container_nats, container_mongo):
            yield Infra(nats_url=container_nats, mongo_uri=container_mongo, workdir=workdir)
        return
    started = []
    nats_url = os.environ.get("NATS_URL", "")
    mongo_uri = os.environ.get("MONGO_URI", "")
    broker = None
    try:
        if not nats_url:
            nats, broker = start_nats(workdir)
            started.append(nats)
            nats_url = f"nats://127.0.0.1:{nats.port}"
        if not mongo_uri:
            mongo = start_mongo(workdir)
            started.append(mongo)
            mongo_uri = f"mongodb://127.0.0.1:{mongo.port}/?directConnection=true"
        yield Infra(nats_url=nats_url, mongo_uri=mongo_uri, workdir=workdir, broker=broker)
    finally:
        for p in reversed(started):
            p.stop()


@pytest.fixture
def db_prefix() -> str:
    """A MONGO_DB prefix of its own for each test: no test sees another's data."""
    return f"t{new_id()[:12]}"


@pytest.fixture
async def mongo_client(infra: Infra) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(infra.mongo_uri)
    yield client
    await client.close()


@pytest.fixture
async def nc(infra: Infra) -> AsyncIterator[NATS]:
    conn = await connect_nats(infra.nats_url, name="tests", identity=infra.nats_identity())
    yield conn
    await conn.drain()


_MARKERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test says what kind it is: `make test-unit` etc. must not miss any."""
    unmarked = [i.nodeid for i in items if not any(i.get_closest_marker(m) for m in _MARKERS)]
    if unmarked:
        raise pytest.UsageError(f"tests without a unit/integration/e2e marker: {unmarked}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suites' checker reports (`tests.support.checker`), one line each."""
    from tests.support.checker import REPORTS

    if REPORTS:
        terminalreporter.section("history checker")
        for report in REPORTS:
            terminalreporter.write_line(report.summary())
