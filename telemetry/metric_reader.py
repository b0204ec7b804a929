"""One metric reader for both ``/metrics`` and OTLP: one aggregation, two outlets.

The SDK keeps a separate aggregation per reader, so a ``PeriodicExportingMetricReader``
next to the Prometheus reader would double the cost of every measurement on the hot
path.  :class:`PrometheusOtlpReader` is the Prometheus reader (collected on each
scrape, as before) that a daemon thread also collects every
``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds (default 60000) and hands to the OTLP
exporters, each export bounded by ``OTEL_METRIC_EXPORT_TIMEOUT`` (default 30000).
Both outlets read the same cumulative aggregation: one source of truth.
"""

from __future__ import annotations

import logging
import os
import threading

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricExporter, MetricsData
from prometheus_client import CollectorRegistry

DEFAULT_INTERVAL_MS = 60_000
DEFAULT_TIMEOUT_MS = 30_000
_log = logging.getLogger(__name__)


class PrometheusOtlpReader(PrometheusMetricReader):
    """The Prometheus reader that also pushes to ``exporters`` on a fixed interval."""

    def __init__(
        self, registry: CollectorRegistry, exporters: list[MetricExporter]
    ) -> None:
        super().__init__(registry=registry)
        self.exporters = exporters
        self.interval_s = _env_ms("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_INTERVAL_MS) / 1000
        self.timeout_ms = _env_ms("OTEL_METRIC_EXPORT_TIMEOUT", DEFAULT_TIMEOUT_MS)
        self._pushing = threading.local()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if exporters:
            self._thread = threading.Thread(
                target=self._push_forever, name="WshOtlpMetricPush", daemon=True
            )
            self._thread.start()

    def _receive_metrics(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> None:
        if getattr(self._pushing, "active", False):
            self._export(metrics_data)
        else:
            super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def push(self) -> None:
        """Collect now and hand the result to the OTLP exporters (not to /metrics)."""
        self._pushing.active = True
        try:
            self.collect(timeout_millis=self.timeout_ms)
        finally:
            self._pushing.active = False

    def _push_forever(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.push()
        self.push()  # the last word, pushed on shutdown (which waits a bounded time)

    def _export(self, metrics_data: MetricsData) -> None:
        if metrics_data is None:
            return
        for exporter in self.exporters:
            try:
                exporter.export(metrics_data, timeout_millis=self.timeout_ms)
            except Exception:  # an exporter must never take the push thread down
                _log.exception("metric export failed")

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        """Push once more and stop, waiting at most ``timeout_millis`` for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_millis / 1000)
        for exporter in self.exporters:
            exporter.shutdown(timeout_millis=timeout_millis)
        super().shutdown(timeout_millis, **kwargs)


def _env_ms(name: str, default: int) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default
