"""The server's metric instruments: one source of truth for OTLP and ``/metrics``.

Instruments are created on an OpenTelemetry ``MeterProvider``; the Prometheus text at
``/metrics`` is rendered from the same provider through a Prometheus reader with a
registry of its own, so two servers in one process never mix their series.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from wsharness.contract import names


class Tally:
    """Counts per label value in plain integers, read by an observable instrument.

    Incrementing a dict entry costs about a tenth of a synchronous SDK counter's
    ``add``: the hot paths (every handshake, frame and close) only touch ints, and
    the SDK reads them when ``/metrics`` is scraped or OTLP export collects.
    """

    __slots__ = ("counts", "labels")

    def __init__(self, *labels: str) -> None:
        self.labels = labels
        # A series without labels is shown from the start, at zero.
        self.counts: dict[tuple[str, ...], int] = {} if labels else {(): 0}

    def add(self, key: tuple[str, ...] = (), amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def total(self) -> int:
        return sum(self.counts.values())

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        for key, value in list(self.counts.items()):
            yield Observation(value, dict(zip(self.labels, key, strict=True)))


class ServerMetrics:
    """Records what the server does; every method is cheap and never raises."""

    def __init__(self, meter: Meter) -> None:
        self.open_connections = Tally()
        self.handshakes = Tally(names.LABEL_OUTCOME)
        self.closes = Tally(names.LABEL_CODE, names.LABEL_INITIATOR)
        self.messages_in = Tally(names.LABEL_TYPE)
        self.messages_out = Tally(names.LABEL_TYPE)
        self.send_queue_drops = Tally()
        self.replays = Tally(names.LABEL_OUTCOME)
        self.protocol_errors = Tally(names.LABEL_CODE)
        self.heartbeat_timeouts = Tally()
        self.broker_outages = Tally()
        meter.create_observable_up_down_counter(
            names.METRIC_OPEN_CONNECTIONS,
            callbacks=[self.open_connections.observe],
            description="Open WebSocket connections (the autoscaling signal)",
        )
        counters = (
            (names.METRIC_HANDSHAKES, self.handshakes, "Upgrade requests by outcome"),
            (names.METRIC_CLOSES, self.closes, "Closed connections by close code"),
            (names.METRIC_MESSAGES_IN, self.messages_in, "Frames received, by type"),
            (names.METRIC_MESSAGES_OUT, self.messages_out, "Frames sent, by type"),
            (
                names.METRIC_SEND_QUEUE_DROPS,
                self.send_queue_drops,
                "Sockets closed 1013 because their send queue was full",
            ),
            (names.METRIC_REPLAYS, self.replays, "Resume attempts by outcome"),
            (names.METRIC_PROTOCOL_ERRORS, self.protocol_errors, "error frames, by code"),
            (
                names.METRIC_HEARTBEAT_TIMEOUTS,
                self.heartbeat_timeouts,
                "Peers closed for not answering pings",
            ),
            (
                names.METRIC_BROKER_OUTAGES,
                self.broker_outages,
                "Times the broker became unreachable",
            ),
        )
        for name, tally, description in counters:
            meter.create_observable_counter(
                name, callbacks=[tally.observe], description=description
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
        self._add_hostile_input_instruments(meter)

    def _add_hostile_input_instruments(self, meter: Meter) -> None:
        """What the server refused or evicted (issue 11)."""
        self.frames_refused = Tally(names.LABEL_REASON)
        self.http_publishes = Tally(names.LABEL_OUTCOME)
        self.topic_evictions = Tally(names.LABEL_REASON)
        self.internal_errors = Tally()
        self.notifications_dropped = Tally(names.LABEL_REASON)
        self.topic_histories: Callable[[], int] = lambda: 0
        counters = (
            (names.METRIC_FRAMES_REFUSED, self.frames_refused, "Client frames refused"),
            (names.METRIC_HTTP_PUBLISHES, self.http_publishes, "POST /publish by outcome"),
            (names.METRIC_TOPIC_EVICTIONS, self.topic_evictions, "Histories evicted"),
            (names.METRIC_INTERNAL_ERRORS, self.internal_errors, "Sockets closed 1011"),
            (
                names.METRIC_NOTIFICATIONS_DROPPED,
                self.notifications_dropped,
                "Notifications whose data is not standard JSON",
            ),
        )
        for name, tally, description in counters:
            meter.create_observable_counter(
                name, callbacks=[tally.observe], description=description
            )
        meter.create_observable_gauge(
            names.METRIC_TOPIC_HISTORIES,
            callbacks=[self._observe_topic_histories],
            description="Topic histories kept (bounded by --history-max-topics)",
        )

    def _observe_topic_histories(self, _options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self.topic_histories())

    def handshake(self, outcome: str) -> None:
        self.handshakes.add((outcome,))

    def opened(self) -> None:
        self.open_connections.add()

    def closed(self, code: int, initiator: str) -> None:
        self.open_connections.add((), -1)
        self.closes.add((str(code), initiator))

    def message_in(self, frame_type: str) -> None:
        self.messages_in.add((frame_type,))

    def message_out(self, frame_type: str, count: int = 1) -> None:
        self.messages_out.add((frame_type,), count)

    def fanout(self, seconds: float) -> None:
        self.fanout_duration.record(seconds)

    def lag(self, seconds: float) -> None:
        self.publish_lag.record(max(seconds, 0.0))

    def send_queue_drop(self) -> None:
        self.send_queue_drops.add()

    def replay(self, outcome: str) -> None:
        self.replays.add((outcome,))

    def protocol_error(self, code: str) -> None:
        self.protocol_errors.add((code,))

    def heartbeat_timeout(self) -> None:
        self.heartbeat_timeouts.add()

    def broker_outage(self) -> None:
        self.broker_outages.add()

    def frame_refused(self, reason: str) -> None:
        self.frames_refused.add((reason,))

    def http_publish(self, outcome: str) -> None:
        self.http_publishes.add((outcome,))

    def topics_evicted(self, reason: str, count: int = 1) -> None:
        self.topic_evictions.add((reason,), count)

    def internal_error(self) -> None:
        self.internal_errors.add()

    def notification_dropped(self, reason: str) -> None:
        self.notifications_dropped.add((reason,))


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
