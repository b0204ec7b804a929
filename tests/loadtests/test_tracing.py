"""Traceparent headers: random and valid without tracing; the span's own with an SDK."""

from __future__ import annotations

import re

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wsharness.contract.names import SPAN_CLIENT_PREFIX
from wsharness.loadclient.tracing import client_span, random_traceparent, record_span

W3C = re.compile(r"^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-00$")


def sdk_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


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
    assert context is not None
    flags = int(context.trace_flags)
    assert flags & 1  # sampled
    assert header == f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"


def test_without_a_provider_no_span_is_made() -> None:
    with client_span("echo", provider=object()) as span:
        assert span.span is None
        assert W3C.match(span.traceparent)


def test_an_untraced_clients_traceparent_is_unsampled() -> None:
    # flags 00: the server's own sampling ratio decides, not every client socket
    with client_span("connect", provider=object()) as span:
        assert span.traceparent.endswith("-00")
    assert random_traceparent(sampled=True).endswith("-01")


def test_recorded_span_links_to_the_carried_traceparent_and_has_no_parent() -> None:
    provider, exporter = sdk_provider()
    fanout = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"

    record_span("deliver", 12.5, link=fanout, provider=provider)

    (span,) = exporter.get_finished_spans()
    assert span.name == SPAN_CLIENT_PREFIX + "deliver"
    assert span.parent is None
    (link,) = span.links
    assert (link.context.trace_id, link.context.span_id) == (
        int("ab" * 16, 16),
        int("cd" * 8, 16),
    )
    assert span.end_time is not None and span.start_time is not None
    assert abs((span.end_time - span.start_time) - 12_500_000) < 1_000


def test_a_malformed_carried_traceparent_gives_an_unlinked_span() -> None:
    provider, exporter = sdk_provider()
    record_span("deliver", 1.0, link="not-a-traceparent", provider=provider)
    (span,) = exporter.get_finished_spans()
    assert span.links == ()
