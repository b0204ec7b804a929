"""setup_telemetry: nothing exported unless asked; OTLP and /metrics from one source."""

from __future__ import annotations

import threading

import pytest

from tests.support.otlp_sink import OtlpSink
from tests.support.servers import metric_value
from wsharness.contract import names
from wsharness.telemetry.setup import setup_telemetry

EXPORT_THREAD_NAMES = (
    "OtelBatch",
    "OtelPeriodicExportingMetricReader",
    "WshOtlpMetricPush",
)


def export_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(EXPORT_THREAD_NAMES)]


def test_nothing_set_creates_no_exporter_and_no_thread() -> None:
    before = export_threads()
    telemetry = setup_telemetry("wsh-test")
    try:
        assert export_threads() == before
        assert not telemetry.tracing
        assert not telemetry.settings.metrics.enabled
        telemetry.metrics.opened()
        text = telemetry.prometheus_text().decode()
        assert metric_value(text, names.PROM_OPEN_CONNECTIONS) == 1
    finally:
        telemetry.shutdown()


def test_sdk_disabled_still_serves_local_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    before = export_threads()
    telemetry = setup_telemetry("wsh-test")
    try:
        assert export_threads() == before
        telemetry.metrics.handshake("accepted")
        text = telemetry.prometheus_text().decode()
        assert metric_value(text, names.PROM_HANDSHAKES, outcome="accepted") == 1
    finally:
        telemetry.shutdown()


def test_otlp_metrics_and_prometheus_text_come_from_the_same_instruments(
    monkeypatch: pytest.MonkeyPatch, sink: OtlpSink
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")  # the global tracer stays untouched
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "100")
    telemetry = setup_telemetry("wsh-test")
    try:
        for _ in range(3):
            telemetry.metrics.opened()
        telemetry.metrics.closed(1000, "client")
        sink.wait_for_metric(names.METRIC_CLOSES)
        exported = sink.metric_points(names.METRIC_OPEN_CONNECTIONS)[-1].as_int
        text = telemetry.prometheus_text().decode()
        assert exported == metric_value(text, names.PROM_OPEN_CONNECTIONS) == 2
        assert names.METRIC_PROCESS_MEMORY in sink.metric_names()
    finally:
        telemetry.shutdown()
