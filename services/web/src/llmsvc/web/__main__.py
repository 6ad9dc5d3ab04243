"""`llm-web`: run the web UI with uvicorn, configured from the environment."""

from __future__ import annotations

import logging
from functools import partial

import uvicorn

from llmsvc.common.logging import configure_logging
from llmsvc.common.metrics import serve_metrics
from llmsvc.common.tracing import configure_tracing, shutdown_tracing
from llmsvc.web.app import create_app
from llmsvc.web.settings import WebSettings


def main() -> None:
    settings = WebSettings()
    configure_logging(level=settings.log_level, json=settings.log_json, service="web")
    # uvicorn's access log already has one line per request; httpx would add another.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    configure_tracing("web")
    # prometheus_client's own server, in its thread, off the public listener.
    metrics = serve_metrics(settings.metrics_host, settings.separate_metrics_port)
    uvicorn.run(
        partial(create_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # Open chat streams would otherwise hold a shutdown for as long as they last.
        timeout_graceful_shutdown=5,
        # Our logging (JSON with LOG_JSON) for uvicorn's lines too.
        log_config=None,
    )
    shutdown_tracing()
    if metrics is not None:
        metrics.shutdown()


if __name__ == "__main__":
    main()
