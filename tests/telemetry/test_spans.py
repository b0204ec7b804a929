"""The real server's spans, as an OTLP receiver gets them.

One ``wsharness serve`` subprocess exports to the in-test receiver; every test drives
it over real sockets with its own trace ids and checks the spans that arrive.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import receive, send, subscribe
from tests.support.otlp_sink import OtlpSink, ReceivedSpan
from tests.support.servers import ServerProcess, token
from wsharness.contract import names
from wsharness.contract.protocol import TRACEPARENT, ClientType, CloseCode, ServerType
from wsharness.telemetry import spans

ECHOES = 200


class Caller:
    """A client-side span context: what a Locust user puts in ``traceparent``."""

    def __init__(self) -> None:
        self.trace_id = secrets.token_hex(16)
        self.span_id = secrets.token_hex(8)

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"


@pytest.fixture(scope="module")
def module_sink() -> Iterator[OtlpSink]:
    with OtlpSink() as running:
        yield running


@pytest.fixture(scope="module")
def traced_server(module_sink: OtlpSink) -> Iterator[ServerProcess]:
    running = ServerProcess(
        OTEL_EXPORTER_OTLP_ENDPOINT=module_sink.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="wsh-under-test",
        OTEL_BSP_SCHEDULE_DELAY="50",
        OTEL_METRIC_EXPORT_INTERVAL="200",
    ).start()
    yield running
    running.stop()


async def open_traced(
    server: ServerProcess, caller: Caller, sub: str = "alice"
) -> ClientConnection:
    headers = {"Authorization": f"Bearer {token(sub, scope='publish')}"}
    headers[TRACEPARENT] = caller.traceparent
    ws = await connect(server.ws_url, additional_headers=headers)
    assert (await receive(ws))["type"] == ServerType.WELCOME
    return ws


def named(spans: list[ReceivedSpan], name: str, trace_id: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.name == name and s.trace_id == trace_id]


def wait_for(sink: OtlpSink, name: str, trace_id: str) -> ReceivedSpan:
    spans = sink.wait_for_spans(lambda got: bool(named(got, name, trace_id)))
    return named(spans, name, trace_id)[0]


async def test_handshake_is_a_child_of_the_upgrades_traceparent(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    caller = Caller()
    ws = await open_traced(traced_server, caller)
    await ws.close()
    handshake = wait_for(module_sink, names.SPAN_HANDSHAKE, caller.trace_id)
    assert handshake.parent_span_id == caller.span_id
    assert handshake.attributes[names.ATTR_OUTCOME] == "accepted"
    assert handshake.attributes[names.ATTR_HTTP_STATUS] == 101
    assert handshake.service_name == "wsh-under-test"


async def test_refused_handshake_records_status_and_reason(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    caller = Caller()
    with pytest.raises(InvalidStatus):
        await connect(
            traced_server.ws_url, additional_headers={TRACEPARENT: caller.traceparent}
        )
    handshake = wait_for(module_sink, names.SPAN_HANDSHAKE, caller.trace_id)
    assert handshake.attributes[names.ATTR_HTTP_STATUS] == 401
    assert handshake.attributes[names.ATTR_REASON]


async def test_upgrade_without_traceparent_keeps_handshake_and_connection_in_one_trace(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    ws = await connect(
        traced_server.ws_url,
        additional_headers={"Authorization": f"Bearer {token('solo')}"},
    )
    welcome = await receive(ws)
    await ws.close()
    spans = module_sink.wait_for_spans(
        lambda got: any(
            s.name == names.SPAN_CONNECTION
            and s.attributes.get(names.ATTR_CONNECTION_ID) == welcome["connection_id"]
            for s in got
        )
    )
    connection = next(
        s for s in spans
        if s.attributes.get(names.ATTR_CONNECTION_ID) == welcome["connection_id"]
    )  # fmt: skip
    handshake = next(
        s for s in spans
        if s.name == names.SPAN_HANDSHAKE and s.trace_id == connection.trace_id
    )  # fmt: skip
    assert connection.parent_span_id == handshake.span_id


async def test_connection_span_ends_at_close_with_code_initiator_and_counts(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    caller = Caller()
    ws = await open_traced(traced_server, caller)
    for probe in range(3):
        await send(ws, ClientType.ECHO, id=probe)
        assert (await receive(ws))["id"] == probe
    await ws.close(CloseCode.NORMAL)
    connection = wait_for(module_sink, names.SPAN_CONNECTION, caller.trace_id)
    assert connection.parent_span_id == caller.span_id
    attributes = connection.attributes
    assert attributes[names.ATTR_CLOSE_CODE] == CloseCode.NORMAL
    assert attributes[names.ATTR_CLOSE_INITIATOR] == "client"
    assert attributes[names.ATTR_MESSAGES_IN] == 3
    assert attributes[names.ATTR_MESSAGES_OUT] >= 4  # welcome + 3 echoes
    assert attributes[names.ATTR_BYTES_IN] > 0 and attributes[names.ATTR_BYTES_OUT] > 0


async def test_inbound_messages_link_to_the_connection_instead_of_nesting(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    caller = Caller()
    ws = await open_traced(traced_server, caller)
    await send(ws, ClientType.ECHO, id="linked")
    await receive(ws)
    await ws.close()
    connection = wait_for(module_sink, names.SPAN_CONNECTION, caller.trace_id)
    handshake = wait_for(module_sink, names.SPAN_HANDSHAKE, caller.trace_id)
    assert connection.trace_id == handshake.trace_id  # one trace per connection
    link = (handshake.trace_id, handshake.span_id)  # the connection's first span
    received = module_sink.wait_for_spans(
        lambda got: any(s.name == names.SPAN_MESSAGE_IN and link in s.links for s in got)
    )
    message = next(
        s for s in received if s.name == names.SPAN_MESSAGE_IN and link in s.links
    )
    assert message.trace_id != caller.trace_id, (
        "a message span must not grow the conn trace"
    )
    assert message.attributes[names.ATTR_MESSAGE_TYPE] == ClientType.ECHO


async def test_fanout_follows_the_publisher_and_the_message_frame_carries_it(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    listener = await open_traced(traced_server, Caller(), sub="bob")
    await subscribe(listener, "news")
    publisher_ws = await open_traced(traced_server, Caller())
    publisher = Caller()
    await send(
        publisher_ws, ClientType.PUBLISH, topic="news", data={"n": 1},
        **{TRACEPARENT: publisher.traceparent},
    )  # fmt: skip
    frame = await next_message(listener)
    await listener.close()
    await publisher_ws.close()
    fanout = wait_for(module_sink, names.SPAN_FANOUT, publisher.trace_id)
    assert fanout.attributes[names.ATTR_TOPIC] == "news"
    assert fanout.attributes[names.ATTR_FANOUT_SOCKETS] == 1
    assert fanout.attributes[names.ATTR_MESSAGE_ID] == frame["id"]
    assert (fanout.trace_id, fanout.parent_span_id) in fanout.links, (
        "fan-out links publisher"
    )
    assert (publisher.trace_id, publisher.span_id) in linked_ancestry(
        module_sink.spans(), fanout
    )
    assert frame[TRACEPARENT].split("-")[1:3] == [fanout.trace_id, fanout.span_id]


async def test_metrics_are_exported_over_otlp(
    traced_server: ServerProcess, module_sink: OtlpSink
) -> None:
    ws = await open_traced(traced_server, Caller())
    await ws.close()
    module_sink.wait_for_metric(names.METRIC_HANDSHAKES)
    module_sink.wait_for_metric(names.METRIC_CLOSES)
    assert names.METRIC_OPEN_CONNECTIONS in module_sink.metric_names()


def sampling_server(sink: OtlpSink, ratio: str, budget: str) -> ServerProcess:
    """A server sampling ``parentbased_traceidratio`` with a message-span budget."""
    return ServerProcess(
        OTEL_EXPORTER_OTLP_ENDPOINT=sink.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG=ratio,
        OTEL_BSP_SCHEDULE_DELAY="50",
        WSH_RATE_LIMIT_PER_SECOND="100000",
        WSH_RATE_LIMIT_BURST="100000",
        WSH_MESSAGE_SPANS_PER_SECOND=budget,
    ).start()


async def echoes_then_a_traced_publish(
    server: ServerProcess, sink: OtlpSink
) -> tuple[list[ReceivedSpan], float]:
    """``ECHOES`` untraced echoes on one socket, then a publish carrying a
    ``traceparent``: the echoes' ``ws.receive`` spans (all exported once the traced
    publish's is) and the seconds from the upgrade to the last echo."""
    caller, traced = Caller(), Caller()
    started = time.monotonic()
    ws = await open_traced(server, caller)
    for probe in range(ECHOES):
        await send(ws, ClientType.ECHO, id=probe)
        await receive(ws)
    elapsed = time.monotonic() - started
    traced_publish = {TRACEPARENT: traced.traceparent}
    await send(ws, ClientType.PUBLISH, topic="t", data=1, **traced_publish)
    await ws.close()
    handshake = wait_for(sink, names.SPAN_HANDSHAKE, caller.trace_id)
    wait_for(sink, names.SPAN_MESSAGE_IN, traced.trace_id)
    link = (handshake.trace_id, handshake.span_id)
    echoes = [
        span
        for span in sink.spans()
        if span.name == names.SPAN_MESSAGE_IN
        and link in span.links
        and span.trace_id != traced.trace_id
    ]
    return echoes, elapsed


async def test_ratio_sampling_keeps_a_share_of_message_spans_and_every_traced_one(
    module_sink: OtlpSink,
) -> None:
    server = sampling_server(module_sink, ratio="0.5", budget="0")
    try:
        echoes, _elapsed = await echoes_then_a_traced_publish(server, module_sink)
    finally:
        server.stop()
    assert 0.3 * ECHOES < len(echoes) < 0.7 * ECHOES


async def test_message_spans_beyond_the_budget_are_dropped_counted_and_traced_ones_kept(
    module_sink: OtlpSink,
) -> None:
    budget = 5
    server = sampling_server(module_sink, ratio="1.0", budget=str(budget))
    try:
        echoes, elapsed = await echoes_then_a_traced_publish(server, module_sink)
        refused = server.metric(names.PROM_SPANS_RATE_LIMITED)
    finally:
        server.stop()
    assert budget <= len(echoes) <= budget + budget * elapsed
    assert len(echoes) + refused == ECHOES


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    """The next ``message`` frame (skipping acknowledgements of other frames)."""
    for _ in range(10):
        frame = await receive(ws)
        if frame["type"] == ServerType.MESSAGE:
            return frame
    raise AssertionError("no message frame within 10 frames")


def linked_ancestry(spans: list[ReceivedSpan], span: ReceivedSpan) -> set[tuple[str, str]]:
    """Every (trace, span) reachable from ``span`` through parents and links."""
    by_id = {s.span_id: s for s in spans}
    seen: set[tuple[str, str]] = set()
    frontier = [span]
    while frontier:
        current = frontier.pop()
        related = [*current.links]
        if current.parent_span_id:
            related.append((current.trace_id, current.parent_span_id))
        for pair in related:
            if pair not in seen:
                seen.add(pair)
                if pair[1] in by_id:
                    frontier.append(by_id[pair[1]])
    return seen


def test_request_trace_context_carries_a_publishers_traceparent_and_nothing_else() -> None:
    caller = Caller()
    carried = spans.request_trace_context({TRACEPARENT: caller.traceparent, "x-other": "1"})
    assert carried == {TRACEPARENT: caller.traceparent}
    assert spans.request_trace_context({"x-other": "1"}) == {}
