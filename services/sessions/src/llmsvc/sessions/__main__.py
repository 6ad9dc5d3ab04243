"""`llm-sessions`: run one replica of the sessions service, configured by the environment."""

from __future__ import annotations

import asyncio

from llmsvc.common.logging import configure_logging
from llmsvc.common.tracing import configure_tracing, shutdown_tracing
from llmsvc.sessions.app import create_app
from llmsvc.sessions.settings import SessionsSettings


def main() -> None:
    settings = SessionsSettings()
    configure_logging(level=settings.log_level, json=settings.log_json, service="sessions")
    if configure_tracing("sessions"):
        from opentelemetry.instrumentation.pymongo import PymongoInstrumentor

        PymongoInstrumentor().instrument()
    # FastStream's run() turns SIGINT/SIGTERM into a graceful stop: stop taking new
    # messages, let in-flight ones finish (up to the broker's graceful timeout), drain
    # the connection, then close Mongo in the lifespan.
    asyncio.run(create_app(settings).run())
    shutdown_tracing()


if __name__ == "__main__":
    main()
