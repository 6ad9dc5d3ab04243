"""OpenTelemetry tracing, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.

When on, each service exports its spans over OTLP/HTTP (the SDK's standard `OTEL_*`
variables apply: headers, sampler, batch delays), and the W3C trace context travels in
NATS headers: on every request to auth, sessions and the workers (`nats_client.request`),
on each job, and on a run's events. So one trace shows a message from the gateway's HTTP
request through the queue to the worker, its model call and its Mongo writes, and back
as the events the gateway relays.

When off, nothing is installed and the helpers here cost one attribute check: the run
path stays as fast as without tracing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

__all__ = [
    "configure_tracing",
    "context_from",
    "enabled",
    "span",
    "trace_headers",
    "tracing_requested",
]

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class _State:
    provider: TracerProvider | None = None


_state = _State()


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint is set)."""
    return any(environ.get(name) for name in _ENDPOINT_VARIABLES)


def configure_tracing(service: str, *, exporter: SpanExporter | None = None) -> bool:
    """Install a tracer provider for `service` when tracing is requested (or
    `exporter` is given: tests pass the SDK's in-memory exporter, whose spans are then
    exported one by one as they end). Returns whether tracing is on."""
    if exporter is None:
        if not tracing_requested():
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: Any = BatchSpanProcessor(OTLPSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _state.provider = provider
    return True


def enabled() -> bool:
    return _state.provider is not None


def shutdown_tracing() -> None:
    """Export what is buffered (at shutdown)."""
    if _state.provider is not None:
        _state.provider.shutdown()


def trace_headers(headers: dict[str, str] | None = None) -> dict[str, str] | None:
    """`headers` with the current trace context added (`traceparent`), for a NATS
    message; unchanged while tracing is off."""
    if _state.provider is None:
        return headers
    carrier = dict(headers or {})
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str] | None) -> context.Context | None:
    """The trace context a NATS message carries, to continue its trace (None while
    tracing is off or the message carries none)."""
    if _state.provider is None or not headers:
        return None
    return propagate.extract(headers)


@contextlib.contextmanager
def span(
    name: str,
    *,
    parent: context.Context | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Iterator[trace.Span | None]:
    """A span around the block while tracing is on (a child of `parent` when given,
    else of the current span); nothing otherwise."""
    if _state.provider is None:
        yield None
        return
    tracer = _state.provider.get_tracer("llmsvc")
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current
