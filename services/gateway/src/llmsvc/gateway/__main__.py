from __future__ import annotations

import uvicorn

from llmsvc.common.logging import configure_logging
from llmsvc.common.metrics import serve_metrics
from llmsvc.common.tracing import configure_tracing, shutdown_tracing
from llmsvc.gateway.app import create_app
from llmsvc.gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging(level=settings.log_level, json=settings.log_json, service="gateway")
    configure_tracing("gateway")
    # prometheus_client's own server, in its thread, off the public listener.
    metrics = serve_metrics(settings.metrics_host, settings.separate_metrics_port)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        # Our logging (JSON with LOG_JSON) for uvicorn's lines too.
        log_config=None,
    )
    shutdown_tracing()
    if metrics is not None:
        metrics.shutdown()


if __name__ == "__main__":
    main()
