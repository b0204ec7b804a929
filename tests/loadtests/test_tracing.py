"""Traceparent headers: random and valid without tracing; the span's own with an SDK."""

from __future__ import annotations

import re

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetry.names import SPAN_CLIENT_PREFIX
from wsharness.loadclient.tracing import client_span, random_traceparent

W3C = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$")


def test_random_traceparents_are_valid_and_distinct() -> None:
    headers = {random_traceparent() for _ in range(1000)}
    assert len(headers) == 1000
    assert all(W3C.match(header) for header in headers)


def test_with_an_sdk_provider_the_header_is_the_client_span_context() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    with client_span("connect", provider) as span:
        header = span.traceparent

    (finished,) = exporter.get_finished_spans()
    assert finished.name == SPAN_CLIENT_PREFIX + "connect"
    context = finished.get_span_context()
    flags = int(context.trace_flags)
    assert flags & 1  # sampled
    assert header == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"


def test_without_a_provider_no_span_is_made() -> None:
    with client_span("echo", provider=object()) as span:
        assert span.span is None
        assert W3C.match(span.traceparent)
