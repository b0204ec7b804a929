"""The tracer provider: export to a real OTLP receiver, sampling, drops counted,
and coexistence with Locust's own ``--otel``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

from tests.support.otlp_sink import OtlpSink
from tests.telemetry.conftest import Blackhole
from wsharness.contract import names
from wsharness.telemetry.otel_env import ExportSettings
from wsharness.telemetry.tracing import build_tracer_provider

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED_PARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"


class DropTally:
    """An ``on_drop`` callback that remembers what it was told."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()

    def __call__(self, count: int, reason: str) -> None:
        self.by_reason[reason] += count


def provider_for(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, **env: str
) -> tuple[trace.TracerProvider, DropTally]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    tally = DropTally()
    provider = build_tracer_provider("wsh-test", ExportSettings.from_env().traces, tally)
    return provider, tally


def test_nothing_configured_gives_a_no_op_provider() -> None:
    provider = build_tracer_provider(
        "wsh-test", ExportSettings.from_env().traces, DropTally()
    )
    assert not isinstance(provider, SdkTracerProvider)
    assert not provider.get_tracer("t").start_span("s").is_recording()


def test_spans_reach_the_receiver_in_the_callers_trace(
    monkeypatch: pytest.MonkeyPatch, sink: OtlpSink
) -> None:
    provider, tally = provider_for(monkeypatch, sink.endpoint, OTEL_SERVICE_NAME="edge-1")
    parent = propagate.extract({"traceparent": SAMPLED_PARENT})
    provider.get_tracer("t").start_span("child", context=parent).end()
    spans = sink.wait_for_spans(lambda got: any(s.name == "child" for s in got))
    child = next(s for s in spans if s.name == "child")
    assert child.trace_id == PARENT_TRACE and child.parent_span_id == "00f067aa0ba902b7"
    assert child.service_name == "edge-1"
    provider.shutdown()  # type: ignore[attr-defined]
    assert not tally.by_reason


def test_ratio_sampler_from_env_drops_new_roots_but_follows_sampled_parents(
    monkeypatch: pytest.MonkeyPatch, sink: OtlpSink
) -> None:
    provider, _ = provider_for(
        monkeypatch,
        sink.endpoint,
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0",
    )
    tracer = provider.get_tracer("t")
    for _ in range(50):
        tracer.start_span("unsampled-root").end()
    tracer.start_span(
        "followed", context=propagate.extract({"traceparent": SAMPLED_PARENT})
    ).end()
    spans = sink.wait_for_spans(lambda got: any(s.name == "followed" for s in got))
    provider.shutdown()  # type: ignore[attr-defined]
    assert not [s for s in sink.spans() if s.name == "unsampled-root"]
    assert len(spans) == 1


def test_failed_exports_are_counted_as_dropped(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    provider, tally = provider_for(
        monkeypatch, f"http://127.0.0.1:{closed_port}", OTEL_EXPORTER_OTLP_TIMEOUT="0.5"
    )
    tracer = provider.get_tracer("t")
    for _ in range(10):
        tracer.start_span("lost").end()
    deadline = time.monotonic() + 10
    while tally.by_reason[names.DROP_EXPORT_FAILED] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    provider.shutdown()  # type: ignore[attr-defined]
    assert tally.by_reason[names.DROP_EXPORT_FAILED] == 10


def test_a_full_queue_drops_without_blocking_and_counts(
    monkeypatch: pytest.MonkeyPatch, blackhole: Blackhole
) -> None:
    provider, tally = provider_for(
        monkeypatch,
        f"http://127.0.0.1:{blackhole.port}",
        OTEL_BSP_MAX_QUEUE_SIZE="16",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="8",
        OTEL_EXPORTER_OTLP_TIMEOUT="5",
    )
    tracer = provider.get_tracer("t")
    started = time.perf_counter()
    for _ in range(1000):
        tracer.start_span("overflow").end()
    elapsed = time.perf_counter() - started
    shutdown_started = time.perf_counter()
    provider.shutdown()  # type: ignore[attr-defined]
    assert elapsed < 1.0, f"ending 1000 spans took {elapsed:.2f}s: the caller was blocked"
    assert time.perf_counter() - shutdown_started < 5.0
    assert tally.by_reason[names.DROP_QUEUE_FULL] >= 1000 - 16 - 8


LOCUST_OTEL_FIRST = textwrap.dedent(
    """
    from locust.opentelemetry import setup_opentelemetry
    from opentelemetry import trace
    from wsharness.telemetry.tracing import setup_tracing
    assert setup_opentelemetry("loadtests/", None)
    locust_provider = trace.get_tracer_provider()
    assert setup_tracing("wsharness-locust") is locust_provider
    print("reused")
    """
)

OURS_ALONE = textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from wsharness.telemetry.tracing import setup_tracing
    provider = setup_tracing("wsharness-locust")
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is provider
    assert setup_tracing("again") is provider
    print("installed")
    """
)


@pytest.mark.parametrize(
    ("script", "expected"), [(LOCUST_OTEL_FIRST, "reused"), (OURS_ALONE, "installed")]
)
def test_setup_tracing_coexists_with_locust_otel(
    script: str, expected: str, sink: OtlpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "none")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
