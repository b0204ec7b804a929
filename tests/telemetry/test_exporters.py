"""The exporters: traces over OTLP/gRPC (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``) arrive."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from wsharness.telemetry.otel_env import ExportSettings
from wsharness.telemetry.tracing import build_tracer_provider


class TraceReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps the names of the spans it is sent."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.arrived = threading.Event()

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                self.names.extend(span.name for span in scope_spans.spans)
        self.arrived.set()
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[TraceReceiver, int]]:
    receiver = TraceReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield receiver, port
    server.stop(grace=None)


def test_spans_are_exported_over_grpc(
    monkeypatch: pytest.MonkeyPatch, grpc_receiver: tuple[TraceReceiver, int]
) -> None:
    receiver, port = grpc_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    drops: list[int] = []
    provider = build_tracer_provider(
        "wsh-test", ExportSettings.from_env().traces, lambda n, _r: drops.append(n)
    )
    provider.get_tracer("t").start_span("over-grpc").end()
    assert receiver.arrived.wait(10), "no export reached the gRPC receiver"
    provider.shutdown()  # type: ignore[attr-defined]
    assert receiver.names == ["over-grpc"] and not drops
