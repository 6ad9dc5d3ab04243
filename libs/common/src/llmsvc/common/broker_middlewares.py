"""The FastStream middlewares of the services that answer NATS requests (auth,
sessions): FastStream's own Prometheus counters of every message a handler takes
(`llm_received_…`: received, in process, processed by status, duration, exceptions),
and, while tracing is on, its OpenTelemetry middleware, which continues the trace
whose context the request carries in its headers."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from llmsvc.common import tracing

__all__ = ["broker_middlewares"]


def broker_middlewares(app_name: str) -> tuple[Any, ...]:
    from faststream.nats.prometheus import NatsPrometheusMiddleware

    middlewares: list[Any] = [
        NatsPrometheusMiddleware(registry=REGISTRY, app_name=app_name, metrics_prefix="llm")
    ]
    if tracing.enabled():
        from faststream.nats.opentelemetry import NatsTelemetryMiddleware

        middlewares.append(NatsTelemetryMiddleware(include_messages_counters=False))
    return tuple(middlewares)
