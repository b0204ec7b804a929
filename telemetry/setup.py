"""One place that sets up metrics (and, when configured, export) for a process.

``setup_telemetry`` builds a ``MeterProvider`` whose instruments feed a per-process
Prometheus registry (rendered at ``/metrics``).  Export over OTLP is driven only by
the standard ``OTEL_*`` environment variables: with none set, nothing is exported.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, generate_latest

from telemetry.metrics import ServerMetrics


@dataclass
class Telemetry:
    """What a process gets from :func:`setup_telemetry`."""

    meter_provider: MeterProvider
    registry: CollectorRegistry
    metrics: ServerMetrics

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        self.meter_provider.shutdown(timeout_millis=2000)


def setup_telemetry(service_name: str = "wsharness-server") -> Telemetry:
    """Create the meter provider and instruments for one server."""
    registry = CollectorRegistry(auto_describe=False)
    reader = PrometheusMetricReader(registry=registry)
    resource = Resource.create({"service.name": service_name})
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    metrics = ServerMetrics(provider.get_meter("wsharness.server"))
    return Telemetry(meter_provider=provider, registry=registry, metrics=metrics)
