"""A small OTLP/HTTP receiver on loopback: what the tests export to.

:class:`OtlpSink` accepts ``POST /v1/traces`` and ``POST /v1/metrics`` (protobuf,
optionally gzip), decodes them with ``opentelemetry-proto`` and keeps what arrived, so
a test can wait for the spans of one trace or for a metric by name.  It is a real
HTTP server on its own thread; point ``OTEL_EXPORTER_OTLP_ENDPOINT`` at
:attr:`OtlpSink.endpoint` with ``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf``.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TRACES_PATH = "/v1/traces"
METRICS_PATH = "/v1/metrics"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector would see it (ids in lowercase hex)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: tuple[tuple[str, str], ...]
    service_name: str
    start_ns: int
    end_ns: int


@dataclass
class _Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    metric_points: dict[str, list[Any]] = field(default_factory=dict)
    requests: int = 0


class OtlpSink:
    """An OTLP/HTTP receiver bound to ``host`` (loopback) on a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._received = _Received()
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def start(self) -> OtlpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what arrived ---------------------------------------------------------
    @property
    def request_count(self) -> int:
        with self._changed:
            return self._received.requests

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._received.spans)

    def metric_names(self) -> set[str]:
        with self._changed:
            return set(self._received.metric_names)

    def metric_points(self, name: str) -> list[Any]:
        with self._changed:
            return list(self._received.metric_points.get(name, ()))

    def wait_for_spans(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate(all spans so far)`` holds; raise TimeoutError if not."""
        return self._wait(lambda: predicate(self._received.spans), timeout, "spans")

    def wait_for_metric(self, name: str, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Wait until a metric called ``name`` has been exported at least once."""
        return self._wait(lambda: name in self._received.metric_names, timeout, name)

    def _wait(
        self, ready: Callable[[], bool], timeout: float, what: str
    ) -> list[ReceivedSpan]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"OTLP sink: {what} not received within {timeout}s")
                self._changed.wait(remaining)
            return list(self._received.spans)

    # --- called by the HTTP handler -----------------------------------------------
    def _accept_traces(self, body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        spans = list(_flatten_spans(request))
        with self._changed:
            self._received.requests += 1
            self._received.spans.extend(spans)
            self._changed.notify_all()
        return ExportTraceServiceResponse().SerializeToString()

    def _accept_metrics(self, body: bytes) -> bytes:
        request = ExportMetricsServiceRequest.FromString(body)
        with self._changed:
            self._received.requests += 1
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        self._received.metric_names.add(metric.name)
                        points = self._received.metric_points.setdefault(metric.name, [])
                        points.extend(_data_points(metric))
            self._changed.notify_all()
        return ExportMetricsServiceResponse().SerializeToString()


def _handler_for(sink: OtlpSink) -> type[BaseHTTPRequestHandler]:
    routes = {TRACES_PATH: sink._accept_traces, METRICS_PATH: sink._accept_metrics}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = _decompress(
                self.rfile.read(int(self.headers.get("Content-Length", 0))),
                self.headers.get("Content-Encoding", ""),
            )
            accept = routes.get(self.path)
            if accept is None:
                self._reply(404, b"")
                return
            self._reply(200, accept(body))

        def _reply(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            """Silent: the sink is a test fixture, not a service."""

    return Handler


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _flatten_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=_attributes(span.attributes),
                        links=tuple(
                            (lk.trace_id.hex(), lk.span_id.hex()) for lk in span.links
                        ),
                        service_name=service,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _data_points(metric: Any) -> list[Any]:
    kind = metric.WhichOneof("data")
    return list(getattr(metric, kind).data_points) if kind else []
