"""One place that sets up tracing and metrics (and, when configured, export) for a process.

``setup_telemetry`` builds a ``MeterProvider`` whose instruments feed a per-process
Prometheus registry (rendered at ``/metrics``) and, when the environment asks for it,
periodic OTLP export from the very same reader and aggregation
(:mod:`telemetry.metric_reader`): one source of truth.  It also installs the
process's global tracer provider (see :mod:`telemetry.tracing`), which
:mod:`telemetry.spans` records through.  Export is driven only by the standard
``OTEL_*`` environment variables (see :mod:`telemetry.otel_env`): with none set, no
exporter and no export thread exist.  ``/metrics`` keeps working even under
``OTEL_SDK_DISABLED=true``: it is the service's own endpoint (the autoscaling
signal), not OpenTelemetry export.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, ExemplarFilter, MeterProvider
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from prometheus_client import CollectorRegistry, generate_latest

from wsharness.contract import names
from wsharness.telemetry import root_sampling
from wsharness.telemetry.exporters import metric_exporters
from wsharness.telemetry.metric_reader import PrometheusOtlpReader
from wsharness.telemetry.metrics import ServerMetrics
from wsharness.telemetry.otel_env import ExportSettings, build_resource
from wsharness.telemetry.quiet_logs import quiet_exporter_logs
from wsharness.telemetry.tracing import drop_counter, install_global_tracer_provider

SHUTDOWN_TIMEOUT_MS = 2000
INSTRUMENTATION_SCOPE = "wsharness.server"


@dataclass
class Telemetry:
    """What a process gets from :func:`setup_telemetry`."""

    meter_provider: MeterProvider
    registry: CollectorRegistry
    metrics: ServerMetrics
    tracer_provider: trace.TracerProvider = field(default_factory=trace.NoOpTracerProvider)
    settings: ExportSettings = field(default_factory=ExportSettings.from_env)
    owns_tracer_provider: bool = False

    @property
    def tracer(self) -> trace.Tracer:
        """The server's tracer (a no-op one when traces are not exported)."""
        return self.tracer_provider.get_tracer(INSTRUMENTATION_SCOPE)

    @property
    def tracing(self) -> bool:
        """True when spans are recorded and exported."""
        return isinstance(self.tracer_provider, SdkTracerProvider)

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Flush and stop export; bounded in time even when the collector hangs."""
        if self.owns_tracer_provider and isinstance(
            self.tracer_provider, SdkTracerProvider
        ):
            self.tracer_provider.shutdown()
        self.meter_provider.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_MS)


def setup_telemetry(
    service_name: str = "wsharness-server", message_spans_per_second: float = 0.0
) -> Telemetry:
    """Create the meter and tracer providers and the instruments for one server.

    ``message_spans_per_second`` (0: no limit) caps the message and fan-out spans a
    ratio sampler starts a second (see :mod:`telemetry.root_sampling`)."""
    settings = ExportSettings.from_env()
    registry = CollectorRegistry(auto_describe=False)
    exporters = metric_exporters(settings.metrics) if settings.metrics.enabled else []
    if exporters:
        quiet_exporter_logs()
    reader = PrometheusOtlpReader(registry, exporters)
    provider = MeterProvider(
        resource=build_resource(service_name),
        metric_readers=[reader],
        shutdown_on_exit=False,
        exemplar_filter=_exemplar_filter(),
    )
    _keep_local_metrics(provider)
    meter = provider.get_meter(INSTRUMENTATION_SCOPE)
    metrics = ServerMetrics(meter)
    meter.create_observable_counter(
        names.METRIC_SPANS_RATE_LIMITED,
        callbacks=[root_sampling.observe_rate_limited],
        description="Message and fan-out spans the ratio sampler kept but the "
        "per-second budget dropped",
    )
    tracer_provider, owned = install_global_tracer_provider(
        service_name,
        settings.traces,
        drop_counter(meter),
        shutdown_on_exit=False,
        root_spans_per_second=message_spans_per_second,
    )
    return Telemetry(
        meter_provider=provider,
        registry=registry,
        metrics=metrics,
        tracer_provider=tracer_provider,
        settings=settings,
        owns_tracer_provider=owned,
    )


def _exemplar_filter() -> ExemplarFilter | None:
    """Exemplars off unless ``OTEL_METRICS_EXEMPLAR_FILTER`` asks for them: /metrics
    cannot show them, and checking the current span costs every measurement."""
    if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER"):
        return None  # the SDK reads the variable itself
    return AlwaysOffExemplarFilter()


def _keep_local_metrics(provider: MeterProvider) -> None:
    """``OTEL_SDK_DISABLED`` turns off export (no exporter was built) but must not
    blank ``/metrics``; the SDK would hand out no-op meters, so undo that flag."""
    if getattr(provider, "_disabled", False):
        provider._disabled = False
