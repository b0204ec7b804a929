"""W3C ``traceparent`` headers for every upgrade, and optional client spans.

Every socket's upgrade request carries a ``traceparent`` so the server's spans of
that socket can be found from the client side.  Without an OpenTelemetry SDK tracer
provider (the default) the header is a fresh random one, which costs a few
microseconds and no allocation beyond the string; it is sent *unsampled* (flags
``00``) so that the server's own sampling ratio decides whether it records the
socket.  When an SDK provider is installed (``locust --otel`` or the application's
own setup), each request gets a client span named ``SPAN_CLIENT_PREFIX + name`` and
the header carries that span's context (and the client sampler's flags).

Requests timed by hand (echo, deliver, reconnect, reauth, refresh) are recorded
after the fact with :func:`record_span`, which does nothing at all without an SDK
provider.  A ``deliver`` span *links* to the fan-out span its message carried rather
than becoming its child, so one fan-out to thousands of sockets stays a small trace;
the others link to their socket's ``connect`` span, the parent of the server's spans
of that socket.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from wsharness.contract.names import SPAN_CLIENT_PREFIX

try:  # tracing is optional: the API is a dependency, but never required at runtime
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import (
        Link,
        SpanContext,
        SpanKind,
        Status,
        StatusCode,
        TraceFlags,
    )
except ImportError:  # pragma: no cover - the dependency is declared
    trace = None  # type: ignore[assignment]
    SdkTracerProvider = None  # type: ignore[assignment,misc]

_SAMPLED = "01"
_UNSAMPLED = "00"
_TRACER_NAME = "wsharness.loadclient"


def random_traceparent(sampled: bool = False) -> str:
    """A fresh W3C traceparent (version 00), unsampled unless ``sampled``."""
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    flags = _SAMPLED if sampled else _UNSAMPLED
    return f"00-{trace_id:032x}-{span_id:016x}-{flags}"


def parse_traceparent(header: object) -> Any:
    """The remote ``SpanContext`` of a W3C traceparent, or None when malformed."""
    if not isinstance(header, str):
        return None
    parts = header.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        trace_id, span_id, flags = (int(part, 16) for part in parts[1:])
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags))


def tracing_enabled(provider: Any = None) -> bool:
    """True when ``provider`` (default: the global one) is an SDK tracer provider.

    Without ``provider`` the answer is read once and kept (asking OpenTelemetry for
    the global provider reads the environment); :func:`reread_settings` forgets it.
    """
    global _enabled
    if provider is None:
        if _enabled is None:
            _enabled = _is_sdk(trace.get_tracer_provider() if trace is not None else None)
        return _enabled
    return _is_sdk(provider)


def _is_sdk(provider: Any) -> bool:
    return SdkTracerProvider is not None and isinstance(provider, SdkTracerProvider)


_enabled: bool | None = None


def reread_settings(**_: Any) -> None:
    """Look at the global tracer provider again (Locust's ``init`` and ``test_start``)."""
    global _enabled
    _enabled = None


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
    tracer = (provider or trace.get_tracer_provider()).get_tracer(_TRACER_NAME)
    span_name = SPAN_CLIENT_PREFIX + name
    with tracer.start_as_current_span(span_name, kind=SpanKind.CLIENT) as span:
        context = span.get_span_context()
        flags = f"{int(context.trace_flags):02x}"
        header = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
        yield ClientSpan(header, span)


def record_span(
    name: str,
    elapsed_ms: float,
    link: object = None,
    error: BaseException | None = None,
    provider: Any = None,
) -> None:
    """Record client span ``name`` that ended now and lasted ``elapsed_ms``.

    ``link`` is a traceparent header (e.g. a message's fan-out span) the span links
    to.  Without an SDK tracer provider this returns at once and allocates nothing.
    """
    if not tracing_enabled(provider):
        return
    end_ns = time.time_ns()
    start_ns = end_ns - int(max(0.0, elapsed_ms) * 1_000_000)
    linked = parse_traceparent(link) if link is not None else None
    tracer = (provider or trace.get_tracer_provider()).get_tracer(_TRACER_NAME)
    span = tracer.start_span(
        SPAN_CLIENT_PREFIX + name,
        context=Context(),  # a root: its own trace, whatever greenlet records it
        kind=SpanKind.CLIENT,
        links=[Link(linked)] if linked is not None else None,
        start_time=start_ns,
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, str(error)))
    span.end(end_time=end_ns)
