"""The agent worker process: job loop, history replies, conversation clean-up."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.tools import BaseTool
from langchain_openai import ChatOpenAI
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient

from llmsvc.agent_worker.checkpoint_migration import migrate_checkpoint_messages
from llmsvc.agent_worker.checkpointer import PruningMongoDBSaver
from llmsvc.agent_worker.cleanup import run_cleanup
from llmsvc.agent_worker.flows import RunExecutor
from llmsvc.agent_worker.graph import AgentGraph, build_graph
from llmsvc.agent_worker.health import reachable, start_health_server
from llmsvc.agent_worker.jobs import JobLoop
from llmsvc.agent_worker.message_store import ContextBudget, MessageStore
from llmsvc.agent_worker.metrics import watch_queue
from llmsvc.agent_worker.settings import WorkerSettings
from llmsvc.agent_worker.titles import Titler
from llmsvc.agent_worker.tools import builtin_tools
from llmsvc.agent_worker.tools.mcp import McpToolset
from llmsvc.common import subjects
from llmsvc.common.clients import SessionsClient
from llmsvc.common.contracts.agent import HistoryRequest
from llmsvc.common.logging import get_logger
from llmsvc.common.metrics import serve_metrics
from llmsvc.common.models import ModelSpec
from llmsvc.common.nats_client import connect_nats, handle_request
from llmsvc.common.run_cancels import RunCancels
from llmsvc.common.run_lock import RunLocks
from llmsvc.common.streams import (
    agent_events_stream,
    agent_jobs_stream,
    ensure_stream,
    sessions_events_stream,
)
from llmsvc.common.user_quotas import QuotaLimits, UserQuotas

log = get_logger(__name__)


def build_model(
    settings: WorkerSettings,
    http_client: openai.DefaultAioHttpClient,
    spec: ModelSpec | None = None,
) -> ChatOpenAI:
    """The client of one model of `MODELS` (the default one without `spec`). Its SDK sends
    requests over aiohttp rather than its default httpx2 transport: about 4 ms less to
    the first token and half the CPU per request here (bench/README.md)."""
    spec = spec or settings.catalog().default
    return ChatOpenAI(
        http_async_client=http_client,
        model=spec.id,
        base_url=spec.base_url or settings.openai_base_url,
        api_key=SecretStr(settings.api_key_value(spec)),
        timeout=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
        max_completion_tokens=settings.model_max_tokens,
        stream_usage=True,
        use_responses_api=False,
    )


@dataclass
class WorkerState:
    nc: NATS
    mongo: MongoClient[dict[str, object]]
    amongo: AsyncMongoClient[dict[str, Any]]
    jobs: JobLoop
    tasks: list[asyncio.Task[None]]


@contextlib.asynccontextmanager
async def lifespan(settings: WorkerSettings) -> AsyncIterator[WorkerState]:
    nc = await connect_nats(
        settings.nats_url, name="agent-worker", identity=settings.nats_identity("agent-worker")
    )
    js = nc.jetstream()
    for config in (
        agent_jobs_stream(),
        agent_events_stream(settings.run_events_ttl_s),
        sessions_events_stream(),
    ):
        await ensure_stream(js, config)
    locks = await RunLocks.open(js, ttl_s=settings.run_lock_ttl_s)
    cancels = await RunCancels.open(js, ttl_s=int(settings.run_events_ttl_s))
    # Only to take finished runs off their user's count and add the tokens they used.
    quotas = await UserQuotas.open(js, QuotaLimits(), namespace=settings.mongo_db)
    mongo: MongoClient[dict[str, object]] = MongoClient(settings.mongo_uri)
    # The saver creates its indexes in its constructor (sync driver): keep it off the loop.
    saver = await asyncio.to_thread(
        PruningMongoDBSaver, mongo, db_name=settings.database_name("agent")
    )
    amongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongo_uri, tz_aware=True, appname="agent-worker"
    )
    agent_db = amongo[settings.database_name("agent")]
    store = MessageStore(agent_db)
    await store.ensure_indexes()
    await migrate_checkpoint_messages(agent_db, saver, store)
    http_client = openai.DefaultAioHttpClient()
    builtins = builtin_tools(settings.tools)
    mcp = McpToolset(settings.mcp_servers)
    await mcp.load_missing()
    catalog = settings.catalog()
    models = {spec.id: build_model(settings, http_client, spec) for spec in catalog.models}
    titler = Titler(SessionsClient(nc))

    def tools() -> list[BaseTool]:
        return [*builtins, *mcp.tools]

    def agent_graph() -> AgentGraph:
        return build_graph(
            models,
            saver,
            default_model=catalog.default.id,
            tools=tools(),
            max_steps=settings.agent_max_steps,
            tool_timeout_s=settings.tool_timeout_s,
        )

    executor = RunExecutor(
        nc=nc,
        js=js,
        graph=agent_graph(),
        locks=locks,
        cancels=cancels,
        quotas=quotas,
        saver=saver,
        store=store,
        budget=ContextBudget(
            max_tokens=settings.context_max_tokens, max_messages=settings.context_max_messages
        ),
        prune_checkpoints=settings.checkpoint_keep == "latest",
        lock_renew_every_s=settings.run_lock_ttl_s / 4,
        models=models,
        default_model=catalog.default.id,
        titler=titler,
    )
    jobs = JobLoop(
        js,
        executor,
        concurrency=settings.worker_concurrency,
        ack_wait_s=settings.job_ack_wait_s,
        max_deliver=settings.job_max_deliver,
        start_timeout_s=settings.run_start_timeout_s,
    )
    # nats-py runs one subscription's callbacks one at a time: answer each read in a
    # task of its own (bounded), so a slow read does not hold up the others.
    history_slots = asyncio.Semaphore(64)
    history_tasks: set[asyncio.Task[None]] = set()

    async def answer_history(msg: Msg) -> None:
        async with history_slots:
            reply = await handle_request(msg.data, HistoryRequest, store.page)
            with contextlib.suppress(Exception):
                await msg.respond(_json(reply))

    async def on_history(msg: Msg) -> None:
        task = asyncio.create_task(answer_history(msg))
        history_tasks.add(task)
        task.add_done_callback(history_tasks.discard)

    await nc.subscribe(subjects.AGENT_HISTORY, queue=subjects.AGENT_QUEUE, cb=on_history)

    async def retry_mcp_servers() -> None:
        """Load the MCP servers that were down, and give new runs their tools."""
        while mcp.missing:
            await asyncio.sleep(settings.mcp_retry_s)
            if await mcp.load_missing():
                executor.graph = agent_graph()

    async def readiness() -> tuple[bool, dict[str, Any]]:
        checks = {
            "nats": nc.is_connected,
            "mongo": await reachable(amongo.admin.command("ping")),
        }
        details = {
            "checks": checks,
            "tools": [tool.name for tool in tools()],
            "mcp": {name: status.as_dict() for name, status in mcp.status.items()},
        }
        return all(checks.values()), details

    health = (
        None
        if settings.health_port is None
        else await start_health_server(settings.health_host, settings.health_port, readiness)
    )
    tasks = [
        asyncio.create_task(jobs.run()),
        asyncio.create_task(run_cleanup(js, saver, store, locks)),
        asyncio.create_task(retry_mcp_servers()),
        asyncio.create_task(watch_queue(js)),
    ]
    metrics = serve_metrics(settings.metrics_host, settings.separate_metrics_port)
    log.info(
        "worker_started",
        models=list(models),
        base_url=settings.openai_base_url,
        tools=[tool.name for tool in tools()],
        mcp_unavailable=mcp.missing,
    )
    try:
        yield WorkerState(nc=nc, mongo=mongo, amongo=amongo, jobs=jobs, tasks=tasks)
    finally:
        for task in tasks:
            task.cancel()
        await jobs.drain(timeout_s=settings.job_ack_wait_s / 2)
        await titler.close()
        if health is not None:
            await health.cleanup()
        if metrics is not None:
            metrics.shutdown()
        # Runs are finished or handed back by now; draining would also wait out the
        # pending long-poll fetches (up to their 5 s timeout), so flush and close.
        with contextlib.suppress(Exception):
            await nc.flush(timeout=2)
        with contextlib.suppress(Exception):
            await nc.close()
        mongo.close()
        await amongo.close()
        await http_client.aclose()
        log.info("worker_stopped")


def _json(reply: dict[str, object]) -> bytes:
    return json.dumps(reply, default=str).encode()
