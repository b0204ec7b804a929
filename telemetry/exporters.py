"""Builds the span and metric exporters that :mod:`telemetry.otel_env` asked for.

The OTLP exporters read their endpoint, headers, timeout, compression and TLS
settings from the standard ``OTEL_EXPORTER_OTLP_*`` variables themselves; this module
only picks the class for the protocol (``grpc`` or ``http/protobuf``).
"""

from __future__ import annotations

import logging

from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter

from wsharness.telemetry.otel_env import PROTOCOL_GRPC, PROTOCOL_HTTP, SignalExport

_log = logging.getLogger(__name__)


def span_exporters(export: SignalExport) -> list[SpanExporter]:
    """One span exporter per configured exporter name (unknown protocols skipped)."""
    built: list[SpanExporter] = []
    for name in export.exporters:
        if name == "console":
            built.append(ConsoleSpanExporter())
        elif exporter := _otlp_span_exporter(export.protocol):
            built.append(exporter)
    return built


def metric_exporters(export: SignalExport) -> list[MetricExporter]:
    """One metric exporter per configured exporter name (unknown protocols skipped)."""
    built: list[MetricExporter] = []
    for name in export.exporters:
        if name == "console":
            built.append(ConsoleMetricExporter())
        elif exporter := _otlp_metric_exporter(export.protocol):
            built.append(exporter)
    return built


def _otlp_span_exporter(protocol: str) -> SpanExporter | None:
    if protocol == PROTOCOL_GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcSpanExporter,
        )

        return GrpcSpanExporter()
    if protocol == PROTOCOL_HTTP:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpSpanExporter,
        )

        return HttpSpanExporter()
    _log.warning(
        "unknown OTLP protocol %r (use grpc or http/protobuf); traces off", protocol
    )
    return None


def _otlp_metric_exporter(protocol: str) -> MetricExporter | None:
    if protocol == PROTOCOL_GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter()
    if protocol == PROTOCOL_HTTP:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        return HttpMetricExporter()
    _log.warning(
        "unknown OTLP protocol %r (use grpc or http/protobuf); metrics off", protocol
    )
    return None
