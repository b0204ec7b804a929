"""The tracer provider: bounded batching, sampling from the environment, drops counted.

Spans leave through a :class:`CountingBatchSpanProcessor`: the SDK's batch processor
(bounded queue, ``OTEL_BSP_*`` respected, export on its own daemon thread so the event
loop never waits on the collector) that also counts every span it loses, whether the
queue overflowed or the collector failed the export.  Sampling is the SDK's own
reading of ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``.

:func:`setup_tracing` is the entry point for processes other than the server (the
Locust suite): it reuses a global SDK provider when one is installed already (Locust's
``--otel``) and otherwise installs its own, so the two never fight.  The provider it
installs also arms :mod:`telemetry.root_sampling` for ratio samplers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from wsharness.contract import names
from wsharness.telemetry import root_sampling
from wsharness.telemetry.exporters import span_exporters
from wsharness.telemetry.otel_env import ExportSettings, SignalExport, build_resource
from wsharness.telemetry.quiet_logs import quiet_exporter_logs
from wsharness.telemetry.root_sampling import (
    RateLimit,
    ReservingIdGenerator,
    RootGate,
    root_bound_from_env,
)

OnDrop = Callable[[int, str], None]
SHUTDOWN_TIMEOUT_MS = 2000
DEFAULT_MAX_QUEUE_SIZE = 2048
_log = logging.getLogger(__name__)
_global_lock = threading.Lock()


class CountingExporter(SpanExporter):
    """Wraps an exporter and reports the spans of every failed export as dropped."""

    def __init__(self, inner: SpanExporter, on_drop: OnDrop) -> None:
        self.inner = inner
        self._on_drop = on_drop

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:
            self._on_drop(len(spans), names.DROP_EXPORT_FAILED)
            raise
        if result is not SpanExportResult.SUCCESS:
            self._on_drop(len(spans), names.DROP_EXPORT_FAILED)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK batch processor, counting queue overflows and bounding its shutdown."""

    def __init__(self, exporter: SpanExporter, on_drop: OnDrop) -> None:
        self.max_queue_size = _env_int("OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE_SIZE)
        self._on_drop = on_drop
        super().__init__(
            CountingExporter(exporter, on_drop), max_queue_size=self.max_queue_size
        )

    def queue_length(self) -> int:
        queue = getattr(self._batch_processor, "_queue", ())
        return len(queue)

    def on_end(self, span: ReadableSpan) -> None:
        sampled = span.context is not None and span.context.trace_flags.sampled
        if sampled and self.queue_length() >= self.max_queue_size:
            self._on_drop(1, names.DROP_QUEUE_FULL)
        super().on_end(span)

    def shutdown(self) -> None:
        """Flush what the collector takes within a bounded time, then let go."""
        self._batch_processor.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_MS)


def drop_counter(meter: Meter) -> OnDrop:
    """An ``on_drop`` callback that adds to the ``wsh_spans_dropped`` counter."""
    counter = meter.create_counter(
        names.METRIC_SPANS_DROPPED,
        description="Spans lost before reaching the collector, by reason",
    )

    def on_drop(count: int, reason: str) -> None:
        counter.add(count, {names.LABEL_REASON: reason})

    return on_drop


def build_tracer_provider(
    service_name: str,
    export: SignalExport,
    on_drop: OnDrop,
    *,
    shutdown_on_exit: bool = False,
) -> trace.TracerProvider:
    """An SDK provider exporting as configured, or a no-op one when nothing is."""
    exporters = span_exporters(export) if export.enabled else []
    if not exporters:
        return trace.NoOpTracerProvider()
    provider = SdkTracerProvider(
        resource=build_resource(service_name),
        shutdown_on_exit=shutdown_on_exit,
        id_generator=ReservingIdGenerator(),
    )
    for exporter in exporters:
        provider.add_span_processor(CountingBatchSpanProcessor(exporter, on_drop))
    quiet_exporter_logs()
    _log.info("exporting traces (%s, %s)", ",".join(export.exporters), export.protocol)
    return provider


def setup_tracing(service_name: str) -> trace.TracerProvider:
    """The process-wide tracer provider for the Locust suite (or any other client).

    Call it from Locust's ``events.init`` (after ``--otel`` has run).  When a global SDK
    provider is installed already (Locust's ``--otel`` or an earlier call) it is
    returned unchanged; otherwise one is built from the ``OTEL_*`` variables and, if
    anything is to be exported, installed globally.  Returns a no-op provider when
    nothing is configured.
    """
    on_drop = drop_counter(metrics.get_meter("wsharness.telemetry"))
    export = ExportSettings.from_env().traces
    provider, _owned = install_global_tracer_provider(
        service_name, export, on_drop, shutdown_on_exit=True
    )
    return provider


def install_global_tracer_provider(
    service_name: str,
    export: SignalExport,
    on_drop: OnDrop,
    *,
    shutdown_on_exit: bool,
    root_spans_per_second: float = 0.0,
) -> tuple[trace.TracerProvider, bool]:
    """The global SDK provider if one exists, else a new one made global when it
    exports anything.  Returns the provider and whether this call installed it.

    ``root_spans_per_second`` (0: no limit) caps the hot-path roots a ratio sampler
    keeps (see :mod:`telemetry.root_sampling`)."""
    with _global_lock:
        current = trace.get_tracer_provider()
        if isinstance(current, SdkTracerProvider):
            return current, False
        provider = build_tracer_provider(
            service_name, export, on_drop, shutdown_on_exit=shutdown_on_exit
        )
        if not isinstance(provider, SdkTracerProvider):
            return provider, False
        trace.set_tracer_provider(provider)
        _install_root_gate(provider, root_spans_per_second)
        return provider, True


def _install_root_gate(provider: SdkTracerProvider, per_second: float) -> None:
    """Let hot paths skip the SDK for roots the ratio sampler drops (same decision),
    within a budget of ``per_second`` kept roots a second (0: none)."""
    bound = root_bound_from_env()
    ids = provider.id_generator
    if bound is not None and isinstance(ids, ReservingIdGenerator):
        limit = RateLimit(per_second) if per_second > 0 else None
        root_sampling.install(RootGate(bound, ids, limit))


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default
