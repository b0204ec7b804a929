"""The server's spans: where each starts, what it is linked to, what it records.

- ``ws.handshake``: short, a child of the upgrade request's ``traceparent``.
- ``ws.connection``: the socket's life, a sibling of the handshake in the caller's
  trace (a child of the handshake when the upgrade carried no ``traceparent``),
  recorded at close with its true start time, the close code, who closed, and counts
  each way.  No span stays open while the socket does.
- ``ws.receive``: one inbound frame.  It *links* to the connection's trace (its
  handshake span) instead of nesting in it, so an hours-long connection never grows an
  unbounded trace; a
  ``publish`` frame carrying a ``traceparent`` makes it a child of the publisher.
- ``ws.fanout``: one notification handed to every subscribed socket, a child of the
  publisher's context carried inside the notification and linked to it (the messaging
  convention's creation-context link, which survives should the trace be cut); the
  ``message`` frames carry the fan-out's own ``traceparent`` so receivers can link to it.

Without a configured SDK every call here is a cheap no-op.  Root message and fan-out
spans that a ratio sampler would drop, or that exceed the per-second budget, skip the
SDK altogether (:mod:`telemetry.root_sampling` makes the identical decision first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
)

from wsharness.contract import names
from wsharness.contract.protocol import TRACEPARENT, ClientType
from wsharness.telemetry import root_sampling

_tracer = trace.get_tracer("wsharness.server")


def start_handshake(headers: Mapping[str, str], peer: str | None) -> Span:
    """Start the handshake span under the caller's ``traceparent`` (if any)."""
    parent = propagate.extract(headers)
    span = _tracer.start_span(names.SPAN_HANDSHAKE, context=parent, kind=SpanKind.SERVER)
    if peer and span.is_recording():
        span.set_attribute(names.ATTR_PEER_ADDRESS, peer)
    return span


def finish_handshake(span: Span, outcome: str, status: int, reason: str = "") -> None:
    if span.is_recording():
        span.set_attribute(names.ATTR_OUTCOME, outcome)
        span.set_attribute(names.ATTR_HTTP_STATUS, status)
        if reason:
            span.set_attribute(names.ATTR_REASON, reason)
        if status >= 400:
            span.set_status(Status(StatusCode.ERROR, reason or outcome))
    span.end()


@dataclass(frozen=True, slots=True)
class ConnectionTrace:
    """What a traced socket keeps until it closes: where its span goes, not the span.

    An open SDK span costs kilobytes (its event and link lists), which thousands of
    idle sockets would pay for hours; the ``ws.connection`` span is instead recorded
    at close, with the socket's true start time.
    """

    parent: otel_context.Context
    start_ns: int
    handshake: SpanContext  # what the socket's message spans link to


def start_connection(headers: Mapping[str, str], handshake: Span) -> ConnectionTrace | None:
    """Note where the connection span will go: in the caller's trace, or else in the
    handshake's.  ``None`` when the handshake is not recorded (nothing to trace)."""
    if not handshake.get_span_context().trace_flags.sampled:
        return None
    parent = propagate.extract(headers)
    if not trace.get_current_span(parent).get_span_context().is_valid:
        parent = trace.set_span_in_context(NonRecordingSpan(handshake.get_span_context()))
    return ConnectionTrace(parent, time.time_ns(), handshake.get_span_context())


def finish_connection(
    connection: ConnectionTrace | None,
    identity: tuple[str, str],
    close: tuple[int, str],
    counts: tuple[int, int, int, int],
) -> None:
    """Record the connection span at close.

    ``identity``: connection id and subject; ``close``: close code and who closed;
    ``counts``: messages in/out, bytes in/out.
    """
    if connection is None:
        return
    span = _tracer.start_span(
        names.SPAN_CONNECTION,
        context=connection.parent,
        kind=SpanKind.SERVER,
        start_time=connection.start_ns,
    )
    if span.is_recording():
        (connection_id, sub), (code, initiator) = identity, close
        messages_in, messages_out, bytes_in, bytes_out = counts
        span.set_attribute(names.ATTR_CONNECTION_ID, connection_id)
        span.set_attribute(names.ATTR_SUBJECT, sub)
        span.set_attribute(names.ATTR_CLOSE_CODE, code)
        span.set_attribute(names.ATTR_CLOSE_INITIATOR, initiator)
        span.set_attribute(names.ATTR_MESSAGES_IN, messages_in)
        span.set_attribute(names.ATTR_MESSAGES_OUT, messages_out)
        span.set_attribute(names.ATTR_BYTES_IN, bytes_in)
        span.set_attribute(names.ATTR_BYTES_OUT, bytes_out)
    span.end()


@contextmanager
def receiving(
    connection: ConnectionTrace | None, frame_type: str, traceparent: str | None
) -> Iterator[Span]:
    """Span one inbound frame, linked to its connection's trace, current while handled."""
    if traceparent:
        parent = propagate.extract({TRACEPARENT: traceparent})
    elif not _sdk_installed():
        yield INVALID_SPAN  # nothing records spans: the cheapest possible no-op
        return
    elif frame_type != ClientType.PUBLISH:
        if root_sampling.drops_root():
            yield INVALID_SPAN  # dropped, and nothing downstream inherits from it
            return
        parent = otel_context.Context()
    else:
        unsampled = root_sampling.unsampled_root()
        if unsampled is not None:  # a dropped publish: its fan-out inherits "dropped"
            with _attached(unsampled) as span:
                yield span
            return
        parent = otel_context.Context()
    links = [Link(connection.handshake)] if connection is not None else []
    attributes = {
        names.ATTR_MESSAGE_TYPE: frame_type,
        names.ATTR_MESSAGING_SYSTEM: names.MESSAGING_SYSTEM,
    }
    with _tracer.start_as_current_span(
        names.SPAN_MESSAGE_IN,
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ) as span:
        yield span


@contextmanager
def fanning_out(
    topic: str, message_id: str, trace_context: Mapping[str, str]
) -> Iterator[Span]:
    """Span one fan-out, a child of the publisher's context carried in the notification."""
    if trace_context:
        parent = propagate.extract(trace_context)
    else:
        unsampled = root_sampling.unsampled_root()
        if unsampled is not None:  # the sampler would drop it: skip the SDK's cost
            with _attached(unsampled) as span:
                yield span
            return
        parent = otel_context.Context()
    links = _links_to(trace.get_current_span(parent))
    with _tracer.start_as_current_span(
        names.SPAN_FANOUT, context=parent, kind=SpanKind.PRODUCER, links=links
    ) as span:
        if span.is_recording():
            span.set_attribute(names.ATTR_TOPIC, topic)
            span.set_attribute(names.ATTR_MESSAGE_ID, message_id)
            span.set_attribute(names.ATTR_MESSAGING_SYSTEM, names.MESSAGING_SYSTEM)
            span.set_attribute(names.ATTR_MESSAGING_OPERATION, "send")
        yield span


def record_fanout(span: Span, sockets: int) -> None:
    if span.is_recording():
        span.set_attribute(names.ATTR_FANOUT_SOCKETS, sockets)


def request_trace_context(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's W3C context from HTTP headers (e.g. ``POST /publish``), ready to
    travel inside a notification; empty when the request carries none."""
    carrier: dict[str, str] = {}
    parent = propagate.extract(headers)
    if trace.get_current_span(parent).get_span_context().is_valid:
        propagate.inject(carrier, context=parent)
    return carrier


def current_trace_context() -> dict[str, str]:
    """The current span's context as W3C headers (empty when nothing is recorded)."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(carrier)
    return carrier


@contextmanager
def _attached(context: otel_context.Context) -> Iterator[Span]:
    """Make ``context`` current for the block; yield its (non-recording) span."""
    token = otel_context.attach(context)
    try:
        yield trace.get_current_span(context)
    finally:
        otel_context.detach(token)


def _sdk_installed() -> bool:
    return isinstance(trace.get_tracer_provider(), SdkTracerProvider)


def _links_to(span: Span) -> list[Link]:
    context = span.get_span_context()
    return [Link(context)] if context.is_valid else []
