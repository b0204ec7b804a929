"""Every span name, attribute key and metric instrument name, defined once.

The server, the Locust suite, the report builder, the Grafana dashboard and the
collector config all refer to these names; change one here and grep for the rest.
There is no WebSocket semantic convention, so spans follow the OpenTelemetry
messaging (``messaging.*``) and network (``network.*``, ``server.*``) conventions
where they fit and use the ``wsh.*`` namespace for the rest.
"""

from __future__ import annotations

# --- Spans -----------------------------------------------------------------
SPAN_HANDSHAKE = "ws.handshake"
SPAN_CONNECTION = "ws.connection"
SPAN_MESSAGE_IN = "ws.receive"
SPAN_FANOUT = "ws.fanout"

# Client-side spans of the Locust suite (request type WS, one per request name).
SPAN_CLIENT_PREFIX = "ws.client."

# --- Span attributes -------------------------------------------------------
ATTR_CONNECTION_ID = "wsh.connection.id"
ATTR_SUBJECT = "enduser.id"
ATTR_OUTCOME = "wsh.handshake.outcome"
ATTR_HTTP_STATUS = "http.response.status_code"
ATTR_REASON = "wsh.reason"
ATTR_CLOSE_CODE = "wsh.close.code"
ATTR_CLOSE_INITIATOR = "wsh.close.initiator"
ATTR_MESSAGES_IN = "wsh.messages.received"
ATTR_MESSAGES_OUT = "wsh.messages.sent"
ATTR_BYTES_IN = "wsh.bytes.received"
ATTR_BYTES_OUT = "wsh.bytes.sent"
ATTR_MESSAGE_TYPE = "wsh.message.type"
ATTR_TOPIC = "messaging.destination.name"
ATTR_MESSAGE_ID = "messaging.message.id"
ATTR_MESSAGING_SYSTEM = "messaging.system"
ATTR_MESSAGING_OPERATION = "messaging.operation.type"
ATTR_FANOUT_SOCKETS = "messaging.batch.message_count"
ATTR_PEER_ADDRESS = "network.peer.address"
MESSAGING_SYSTEM = "wsharness"

# --- Metric instruments (OpenTelemetry names; /metrics shows the Prometheus form) --
METRIC_OPEN_CONNECTIONS = "wsh_open_connections"
METRIC_HANDSHAKES = "wsh_handshakes"
METRIC_CLOSES = "wsh_closes"
METRIC_MESSAGES_IN = "wsh_messages_in"
METRIC_MESSAGES_OUT = "wsh_messages_out"
METRIC_FANOUT_DURATION = "wsh_fanout_duration"
METRIC_PUBLISH_LAG = "wsh_publish_lag"
METRIC_SEND_QUEUE_DROPS = "wsh_send_queue_drops"
METRIC_REPLAYS = "wsh_replays"
METRIC_PROTOCOL_ERRORS = "wsh_protocol_errors"
METRIC_HEARTBEAT_TIMEOUTS = "wsh_heartbeat_timeouts"
METRIC_BROKER_OUTAGES = "wsh_broker_outages"
METRIC_PROCESS_MEMORY = "wsh_process_memory"
METRIC_PROCESS_CPU = "wsh_process_cpu_time"

# Metric attribute keys.
LABEL_OUTCOME = "outcome"
LABEL_CODE = "code"
LABEL_TYPE = "type"
LABEL_INITIATOR = "initiator"

# Histogram bucket boundaries in seconds, shared by fan-out and lag.
LATENCY_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

# The same series as Prometheus shows them at /metrics (what the report, Grafana and
# the collector config query).
PROM_OPEN_CONNECTIONS = "wsh_open_connections"
PROM_HANDSHAKES = "wsh_handshakes_total"
PROM_CLOSES = "wsh_closes_total"
PROM_MESSAGES_IN = "wsh_messages_in_total"
PROM_MESSAGES_OUT = "wsh_messages_out_total"
PROM_FANOUT_DURATION = "wsh_fanout_duration_seconds"
PROM_PUBLISH_LAG = "wsh_publish_lag_seconds"
PROM_SEND_QUEUE_DROPS = "wsh_send_queue_drops_total"
PROM_REPLAYS = "wsh_replays_total"
PROM_PROTOCOL_ERRORS = "wsh_protocol_errors_total"
PROM_HEARTBEAT_TIMEOUTS = "wsh_heartbeat_timeouts_total"
PROM_BROKER_OUTAGES = "wsh_broker_outages_total"
PROM_PROCESS_MEMORY = "wsh_process_memory_bytes"
PROM_PROCESS_CPU = "wsh_process_cpu_time_seconds_total"

# --- Telemetry's own health (added by issue 4) ------------------------------
# Spans lost before reaching the collector: reason "queue_full" (the bounded batch
# queue overflowed) or "export_failed" (the collector was down, slow or refusing).
METRIC_SPANS_DROPPED = "wsh_spans_dropped"
PROM_SPANS_DROPPED = "wsh_spans_dropped_total"
LABEL_REASON = "reason"
DROP_QUEUE_FULL = "queue_full"
DROP_EXPORT_FAILED = "export_failed"
# Message and fan-out roots the ratio sampler kept but the per-second budget refused
# (``--message-spans-per-second``): sampled out on purpose, not lost.
METRIC_SPANS_RATE_LIMITED = "wsh_spans_rate_limited"
PROM_SPANS_RATE_LIMITED = "wsh_spans_rate_limited_total"

# --- Hostile input at the HTTP layer (added by issue 11) ----------------------
# Connections closed before any request was handled, by reason: "header_timeout"
# (no complete request head within --header-timeout-seconds), "pending_limit" (evicted:
# --max-pending-connections were waiting for their heads), "malformed" (a request head
# aiohttp could not parse).
METRIC_HTTP_REFUSED = "wsh_http_refused"
PROM_HTTP_REFUSED = "wsh_http_refused_total"
# Connections accepted whose request head has not arrived yet.
METRIC_PENDING_CONNECTIONS = "wsh_pending_connections"
PROM_PENDING_CONNECTIONS = "wsh_pending_connections"
# JWKS fetches by outcome: "ok", "failed" (endpoint slow, down or serving no usable
# key: the cached keys keep serving), "rate_limited" (an early refetch for an unknown
# key id not made: one ran within --jwks-refetch-seconds).
METRIC_JWKS_FETCHES = "wsh_jwks_fetches"
PROM_JWKS_FETCHES = "wsh_jwks_fetches_total"

# --- Hostile input (issue 11) ------------------------------------------------
# Client frames refused, by reason (an ``error`` frame or a close): e.g.
# json_too_deep, non_standard_json, bad_traceparent, too_many_subscriptions,
# topic_too_long, rate_limit, control_rate_limit, unmasked_frame, message_too_big.
METRIC_FRAMES_REFUSED = "wsh_frames_refused"
PROM_FRAMES_REFUSED = "wsh_frames_refused_total"
# ``POST /publish`` requests by outcome (accepted, or why refused).
METRIC_HTTP_PUBLISHES = "wsh_http_publishes"
PROM_HTTP_PUBLISHES = "wsh_http_publishes_total"
# Topic histories the instance keeps, and those it evicted (expired / limit).
METRIC_TOPIC_HISTORIES = "wsh_topic_histories"
PROM_TOPIC_HISTORIES = "wsh_topic_histories"
METRIC_TOPIC_EVICTIONS = "wsh_topic_histories_evicted"
PROM_TOPIC_EVICTIONS = "wsh_topic_histories_evicted_total"
# Unexpected exceptions while handling a frame (the socket is closed 1011).
METRIC_INTERNAL_ERRORS = "wsh_internal_errors"
PROM_INTERNAL_ERRORS = "wsh_internal_errors_total"
# Notifications not delivered because their data is not standard JSON (NaN from a
# publisher that bypassed the server, straight to Pub/Sub).
METRIC_NOTIFICATIONS_DROPPED = "wsh_notifications_dropped"
PROM_NOTIFICATIONS_DROPPED = "wsh_notifications_dropped_total"
