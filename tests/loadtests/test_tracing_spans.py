"""Client spans from a real Locust run (``--otel``) next to the real server's spans.

The server and the Locust process export to one in-test OTLP receiver; the test
checks that each request kind becomes a ``ws.client.*`` span and that the spans
join up with the server's: ``connect`` is the parent of ``ws.handshake``, each
``deliver`` links to the ``ws.fanout`` span its message carried, ``echo`` and
``refresh`` link to their socket's ``connect``, and each ``reconnect`` spans the
outage and links to the new socket's ``connect``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.otlp_sink import OtlpSink, ReceivedSpan
from tests.support.servers import ServerProcess
from wsharness.contract.names import (
    ATTR_OUTCOME,
    SPAN_CLIENT_PREFIX,
    SPAN_FANOUT,
    SPAN_HANDSHAKE,
)

EXPORT = {
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_BSP_SCHEDULE_DELAY": "50",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
}
# A reconnect span starts at the drop measured on the monotonic clock, not the wall one.
CLOCKS_NS = 1_000_000


@pytest.fixture(scope="module")
def sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


@pytest.fixture(scope="module")
def traced_server(sink: OtlpSink) -> Iterator[ServerProcess]:
    running = ServerProcess(
        WSH_TOKEN_WARNING_SECONDS="2",
        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
        OTEL_SERVICE_NAME="wsh-under-test",
        **EXPORT,
    ).start()
    yield running
    running.stop()


def client(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.name == SPAN_CLIENT_PREFIX + name]


def test_a_traced_locust_run_exports_client_spans_joined_to_the_servers(
    traced_server: ServerProcess, sink: OtlpSink, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("expiry", "publisher", "active"),
        ws_host(traced_server),
        tmp_path,
        users=6,
        seconds=5,
        extra=("--otel", "--expiry-token-ttl", "2.5", "--echo-rate", "10"),
        env_extra={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_SERVICE_NAME": "locust-under-test",
            **EXPORT,
        },
    )
    assert run.returncode == 0, run.output
    assert run.count("refresh") > 0 and run.count("deliver") > 0, run.output

    def upgrades(spans: list[ReceivedSpan]) -> set[tuple[str, str]]:
        """Client connect spans that are parents of a server handshake."""
        handshakes = {
            (s.trace_id, s.parent_span_id) for s in spans if s.name == SPAN_HANDSHAKE
        }
        return {(s.trace_id, s.span_id) for s in client(spans, "connect")} & handshakes

    def linked_to_upgrades(spans: list[ReceivedSpan]) -> bool:
        timed = [span for name in ("echo", "refresh") for span in client(spans, name)]
        return {link for span in timed for link in span.links} <= upgrades(spans)

    def complete(spans: list[ReceivedSpan]) -> bool:
        present = all(client(spans, name) for name in ("echo", "deliver", "refresh"))
        return present and linked_to_upgrades(spans)

    spans = sink.wait_for_spans(complete)
    fanouts = {(s.trace_id, s.span_id) for s in spans if s.name == SPAN_FANOUT}
    delivered = client(spans, "deliver")
    assert any(set(span.links) & fanouts for span in delivered)
    assert all(span.parent_span_id == "" for span in delivered)  # links, not children
    assert all(span.end_ns > span.start_ns for span in delivered)
    assert upgrades(spans)
    for name in ("echo", "refresh"):  # each leads to its socket's upgrade
        assert all(len(span.links) == 1 for span in client(spans, name))


def by_id(spans: list[ReceivedSpan]) -> dict[tuple[str, str], ReceivedSpan]:
    return {(span.trace_id, span.span_id): span for span in spans}


def test_a_reconnect_span_covers_the_outage_and_links_to_the_new_upgrade(
    traced_server: ServerProcess, sink: OtlpSink, tmp_path: Path
) -> None:
    service = "locust-reconnects"
    started_ns = time.time_ns()
    run = run_locust(
        locustfiles("drops"),
        ws_host(traced_server),
        tmp_path,
        users=3,
        seconds=3,
        extra=("--otel", "--drop-mix", "abort=1,rst=1", "--drop-interval", "0.3"),
        env_extra={
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_SERVICE_NAME": service,
            **EXPORT,
        },
    )
    ended_ns = time.time_ns()
    assert run.returncode == 0, run.output
    assert run.failures == [], run.output
    reconnected = run.count("reconnect")
    assert reconnected >= 3, run.output

    def ours(spans: list[ReceivedSpan], name: str) -> list[ReceivedSpan]:
        return [span for span in client(spans, name) if span.service_name == service]

    def handshake_parents(spans: list[ReceivedSpan]) -> set[tuple[str, str]]:
        return {(s.trace_id, s.parent_span_id) for s in spans if s.name == SPAN_HANDSHAKE}

    def complete(spans: list[ReceivedSpan]) -> bool:
        reconnects = ours(spans, "reconnect")
        linked = {link for span in reconnects for link in span.links}
        upgrades = handshake_parents(spans) & set(by_id(ours(spans, "connect")))
        return len(reconnects) >= reconnected and linked <= upgrades

    spans = sink.wait_for_spans(complete)
    reconnects = ours(spans, "reconnect")
    assert len(reconnects) >= reconnected  # the CSV may lag the last second of the run
    connects = by_id(ours(spans, "connect"))
    handshakes = {
        (s.trace_id, s.parent_span_id): s for s in spans if s.name == SPAN_HANDSHAKE
    }
    for span in reconnects:
        assert span.parent_span_id == ""  # a root: its own trace in Jaeger
        assert started_ns < span.start_ns < span.end_ns < ended_ns
        assert len(span.links) == 1, span
        upgrade = connects[span.links[0]]  # the new socket's upgrade ...
        assert span.start_ns - CLOCKS_NS <= upgrade.start_ns < upgrade.end_ns <= span.end_ns
        handshake = handshakes[span.links[0]]  # ... whose child is the server's span
        assert handshake.attributes[ATTR_OUTCOME] == "accepted"
