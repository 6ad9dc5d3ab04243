from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor

from llmsvc.agent_worker.app import lifespan
from llmsvc.agent_worker.settings import WorkerSettings
from llmsvc.common.logging import configure_logging
from llmsvc.common.tracing import configure_tracing, shutdown_tracing


async def serve(settings: WorkerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The Mongo checkpointer is synchronous and runs in the default executor: give
    # every concurrent run a thread, or checkpoint reads queue behind each other.
    loop.set_default_executor(
        ThreadPoolExecutor(settings.worker_concurrency + 4, thread_name_prefix="checkpoint")
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with lifespan(settings):
        await stop.wait()


def main() -> None:
    settings = WorkerSettings()
    configure_logging(level=settings.log_level, json=settings.log_json, service="agent-worker")
    settings.export_tracing_env()
    if configure_tracing("agent-worker"):
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        PymongoInstrumentor().instrument()
    asyncio.run(serve(settings))
    shutdown_tracing()


if __name__ == "__main__":
    main()
