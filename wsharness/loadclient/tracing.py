"""W3C ``traceparent`` headers for every upgrade, and optional client spans.

Every socket's upgrade request carries a ``traceparent`` so the server's spans of
that socket can be found from the client side.  Without an OpenTelemetry SDK tracer
provider (the default) the header is a fresh random one, which costs a few
microseconds and no allocation beyond the string.  When an SDK provider is installed
(``locust --otel`` or the application's own setup), each request gets a client span
named ``SPAN_CLIENT_PREFIX + name`` and the header carries that span's context.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from telemetry.names import SPAN_CLIENT_PREFIX

try:  # tracing is optional: the API is a dependency, but never required at runtime
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError:  # pragma: no cover - the dependency is declared
    trace = None  # type: ignore[assignment]
    SdkTracerProvider = None  # type: ignore[assignment,misc]

_SAMPLED = "01"


def random_traceparent() -> str:
    """A fresh, sampled W3C traceparent (version 00)."""
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    return f"00-{trace_id:032x}-{span_id:016x}-{_SAMPLED}"


def tracing_enabled(provider: Any = None) -> bool:
    """True when ``provider`` (default: the global one) is an SDK tracer provider."""
    if trace is None or SdkTracerProvider is None:
        return False
    return isinstance(provider or trace.get_tracer_provider(), SdkTracerProvider)


@dataclass(slots=True)
class ClientSpan:
    """The traceparent of one request, and its span when tracing is on."""

    traceparent: str
    span: Any = None

    def fail(self, exception: BaseException) -> None:
        if self.span is not None:
            self.span.set_status(Status(StatusCode.ERROR, str(exception)))


@contextmanager
def client_span(name: str, provider: Any = None) -> Iterator[ClientSpan]:
    """Yield the traceparent for request ``name``; a real span when tracing is on."""
    if not tracing_enabled(provider):
        yield ClientSpan(random_traceparent())
        return
    tracer = (provider or trace.get_tracer_provider()).get_tracer("wsharness.loadclient")
    span_name = SPAN_CLIENT_PREFIX + name
    with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT) as span:
        context = span.get_span_context()
        flags = f"{int(context.trace_flags):02x}"
        header = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
        yield ClientSpan(header, span)
