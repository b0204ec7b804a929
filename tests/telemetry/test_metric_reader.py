"""One reader, two outlets: scrapes and OTLP pushes read the same aggregation."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import CollectorRegistry

from tests.support.otlp_sink import OtlpSink
from tests.support.servers import metric_value
from tests.telemetry.conftest import Blackhole
from wsharness.contract import names
from wsharness.telemetry.metric_reader import PrometheusOtlpReader
from wsharness.telemetry.setup import setup_telemetry


def otlp_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{endpoint}/v1/metrics")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")


def test_pushes_and_scrapes_agree_and_neither_steals_from_the_other(
    monkeypatch: pytest.MonkeyPatch, sink: OtlpSink
) -> None:
    otlp_env(monkeypatch, sink.endpoint)
    telemetry = setup_telemetry("wsh-test")
    try:
        telemetry.metrics.handshake("accepted")
        sink.wait_for_metric(names.METRIC_HANDSHAKES)
        pushes_before = sink.request_count
        for _ in range(3):  # scrapes in between pushes
            text = telemetry.prometheus_text().decode()
            assert metric_value(text, names.PROM_HANDSHAKES, outcome="accepted") == 1
        telemetry.metrics.handshake("accepted")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            points = sink.metric_points(names.METRIC_HANDSHAKES)
            if points and points[-1].as_int == 2:
                break
            time.sleep(0.05)
        assert sink.metric_points(names.METRIC_HANDSHAKES)[-1].as_int == 2
        assert sink.request_count > pushes_before
        text = telemetry.prometheus_text().decode()
        assert metric_value(text, names.PROM_HANDSHAKES, outcome="accepted") == 2
    finally:
        telemetry.shutdown()


def test_shutdown_is_bounded_when_the_collector_hangs(
    monkeypatch: pytest.MonkeyPatch, blackhole: Blackhole
) -> None:
    otlp_env(monkeypatch, f"http://127.0.0.1:{blackhole.port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "30")
    telemetry = setup_telemetry("wsh-test")
    deadline = time.monotonic() + 10
    while blackhole.accepted == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert blackhole.accepted, "no push reached the hanging collector"
    started = time.monotonic()
    telemetry.shutdown()
    assert time.monotonic() - started < 5


def test_a_reader_without_exporters_starts_no_push_thread() -> None:
    before = push_threads()
    reader = PrometheusOtlpReader(CollectorRegistry(), [])
    assert push_threads() == before
    reader.shutdown()


def push_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "WshOtlpMetricPush")
