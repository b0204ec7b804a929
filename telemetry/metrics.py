"""The server's metric instruments: one source of truth for OTLP and ``/metrics``.

Instruments are created on an OpenTelemetry ``MeterProvider``; the Prometheus text at
``/metrics`` is rendered from the same provider through a Prometheus reader with a
registry of its own, so two servers in one process never mix their series.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from telemetry import names


class ServerMetrics:
    """Records what the server does; every method is cheap and never raises."""

    def __init__(self, meter: Meter) -> None:
        self.open_connections = meter.create_up_down_counter(
            names.METRIC_OPEN_CONNECTIONS,
            description="Open WebSocket connections (the autoscaling signal)",
        )
        self.handshakes = meter.create_counter(
            names.METRIC_HANDSHAKES, description="Upgrade requests by outcome"
        )
        self.closes = meter.create_counter(
            names.METRIC_CLOSES, description="Closed connections by close code"
        )
        self.messages_in = meter.create_counter(
            names.METRIC_MESSAGES_IN, description="Frames received, by type"
        )
        self.messages_out = meter.create_counter(
            names.METRIC_MESSAGES_OUT, description="Frames sent, by type"
        )
        self.fanout_duration = meter.create_histogram(
            names.METRIC_FANOUT_DURATION,
            unit="s",
            description="Time to hand one notification to every subscribed socket",
            explicit_bucket_boundaries_advisory=names.LATENCY_BUCKETS_S,
        )
        self.publish_lag = meter.create_histogram(
            names.METRIC_PUBLISH_LAG,
            unit="s",
            description="From published_at to the frame written to the socket",
            explicit_bucket_boundaries_advisory=names.LATENCY_BUCKETS_S,
        )
        self.send_queue_drops = meter.create_counter(
            names.METRIC_SEND_QUEUE_DROPS,
            description="Sockets closed 1013 because their send queue was full",
        )
        self.replays = meter.create_counter(
            names.METRIC_REPLAYS, description="Resume attempts by outcome"
        )
        self.protocol_errors = meter.create_counter(
            names.METRIC_PROTOCOL_ERRORS, description="error frames sent, by code"
        )
        self.heartbeat_timeouts = meter.create_counter(
            names.METRIC_HEARTBEAT_TIMEOUTS,
            description="Peers closed for not answering pings",
        )
        self.broker_outages = meter.create_counter(
            names.METRIC_BROKER_OUTAGES, description="Times the broker became unreachable"
        )
        meter.create_observable_gauge(
            names.METRIC_PROCESS_MEMORY,
            callbacks=[_observe_memory],
            unit="By",
            description="Resident set size of the server process",
        )
        meter.create_observable_counter(
            names.METRIC_PROCESS_CPU,
            callbacks=[_observe_cpu],
            unit="s",
            description="CPU time (user + system) of the server process",
        )

    def handshake(self, outcome: str) -> None:
        self.handshakes.add(1, {names.LABEL_OUTCOME: outcome})

    def opened(self) -> None:
        self.open_connections.add(1)

    def closed(self, code: int, initiator: str) -> None:
        self.open_connections.add(-1)
        self.closes.add(1, {names.LABEL_CODE: str(code), names.LABEL_INITIATOR: initiator})

    def message_in(self, frame_type: str) -> None:
        self.messages_in.add(1, {names.LABEL_TYPE: frame_type})

    def message_out(self, frame_type: str, count: int = 1) -> None:
        self.messages_out.add(count, {names.LABEL_TYPE: frame_type})

    def fanout(self, seconds: float) -> None:
        self.fanout_duration.record(seconds)

    def lag(self, seconds: float) -> None:
        self.publish_lag.record(max(seconds, 0.0))

    def send_queue_drop(self) -> None:
        self.send_queue_drops.add(1)

    def replay(self, outcome: str) -> None:
        self.replays.add(1, {names.LABEL_OUTCOME: outcome})

    def protocol_error(self, code: str) -> None:
        self.protocol_errors.add(1, {names.LABEL_CODE: code})

    def heartbeat_timeout(self) -> None:
        self.heartbeat_timeouts.add(1)

    def broker_outage(self) -> None:
        self.broker_outages.add(1)


def _observe_memory(_options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(_resident_bytes())


def _observe_cpu(_options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(time.process_time())


def _resident_bytes() -> int:
    """Current RSS from /proc (Linux), falling back to the peak from getrusage."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
