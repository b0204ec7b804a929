"""A collector that is down never floods the log."""

from __future__ import annotations

import logging
import time

import pytest

from wsharness.telemetry.otel_env import ExportSettings
from wsharness.telemetry.quiet_logs import RateLimitFilter
from wsharness.telemetry.tracing import build_tracer_provider


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("x", logging.ERROR, __file__, 1, message, None, None)


def test_one_record_per_interval_and_the_next_one_tells_how_many_were_dropped() -> None:
    clock = FakeClock()
    limiter = RateLimitFilter(interval_s=60, clock=clock)
    passed = [limiter.filter(record("export failed")) for _ in range(100)]
    assert passed.count(True) == 1
    clock.now = 61
    later = record("export failed")
    assert limiter.filter(later)
    assert "[99 similar telemetry log lines suppressed]" in later.getMessage()


def test_exporting_to_a_dead_collector_logs_a_handful_of_lines(
    monkeypatch: pytest.MonkeyPatch, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "0.2")
    failures: list[int] = []
    provider = build_tracer_provider(
        "wsh-test", ExportSettings.from_env().traces, lambda n, _r: failures.append(n)
    )
    tracer = provider.get_tracer("t")
    caplog.set_level(logging.DEBUG, logger="opentelemetry")
    deadline = time.monotonic() + 10
    while len(failures) < 20 and time.monotonic() < deadline:
        tracer.start_span("lost").end()
        time.sleep(0.01)
    provider.shutdown()  # type: ignore[attr-defined]
    assert len(failures) >= 20, "the exporter did not fail 20 times: test is not exercising"
    otel_lines = [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert len(otel_lines) <= 6, [r.getMessage() for r in otel_lines]
