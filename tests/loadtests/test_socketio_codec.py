"""loadclient/socketio_codec.py: the state machine on literal frames and on a real server.

The live half drives Node's ``socket.io`` (``tests/peers/socketio_room.js``) over a
plain WebSocket with nothing but the state machine, so every frame in it was written
by the real server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.node_peers import NodePeer, check_installed
from wsharness.loadclient.socketio_codec import (
    Acked,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    Event,
    Happening,
    Opened,
    Pinged,
    SocketIOClient,
    SocketIOProtocolError,
    socketio_url,
)
from wsharness.loadclient.stamp import find_stamps_in_value, new_stamp, stamped_payload

OPEN = '0{"sid":"Lbo5JLzTotvW3g2LAAAA","upgrades":[],"pingInterval":300,"pingTimeout":400,"maxPayload":1000000}'  # noqa: E501


def opened(client: SocketIOClient) -> SocketIOClient:
    client.receive_text(OPEN)
    client.data_to_send()
    return client


# --- literal frames -----------------------------------------------------------------


def test_the_open_packet_ends_the_handshake_and_connects_every_namespace() -> None:
    client = SocketIOClient(namespaces=("/", "/live"), auth={"token": "t"})
    assert client.receive_text(OPEN) == Opened("Lbo5JLzTotvW3g2LAAAA", 300, 400, 1_000_000)
    assert client.data_to_send() == ['40{"token":"t"}', '40/live,{"token":"t"}']
    assert client.data_to_send() == []
    assert client.receive_text('40{"sid":"a"}') == Connected("/", "a")
    assert client.receive_text('40/live,{"sid":"b"}') == Connected("/live", "b")
    assert client.connected == {"/": "a", "/live": "b"}


def test_a_ping_is_answered_with_a_pong() -> None:
    client = opened(SocketIOClient())
    assert client.receive_text("2") == Pinged()
    assert client.data_to_send() == ["3"]
    assert client.receive_text("6") is None  # noop


def test_a_refused_namespace_says_why() -> None:
    client = opened(SocketIOClient(namespaces=("/private",)))
    refused = client.receive_text('44/private,{"message":"not authorized"}')
    assert refused == ConnectRefused("/private", "not authorized")
    assert client.connected == {}


def test_events_carry_their_name_arguments_and_namespace() -> None:
    client = opened(SocketIOClient(namespaces=("/live",)))
    client.receive_text('40/live,{"sid":"b"}')
    assert client.receive_text('42/live,["notification",{"a":1},2]') == Event(
        "/live", "notification", [{"a": 1}, 2]
    )
    assert client.receive_text('42["root"]') == Event("/", "root", [])
    asking = client.receive_text('42/live,7["question"]')
    assert asking == Event("/live", "question", [], ack_id=7)
    assert isinstance(asking, Event)
    client.ack(asking, "yes")
    assert client.data_to_send() == ['43/live,7["yes"]']


def test_emits_are_encoded_per_namespace_and_refused_before_connecting() -> None:
    client = opened(SocketIOClient(namespaces=("/", "/live")))
    with pytest.raises(SocketIOProtocolError, match="/live is not connected"):
        client.emit("notification", {"a": 1}, namespace="/live")
    client.receive_text('40/live,{"sid":"b"}')
    client.receive_text('40{"sid":"a"}')
    client.emit("notification", {"a": 1}, namespace="/live")
    client.emit("hello", 1)
    assert client.emit("with-ack", namespace="/live", ack=True) == 0
    assert client.data_to_send() == [
        '42/live,["notification",{"a":1}]',
        '42["hello",1]',
        '42/live,0["with-ack"]',
    ]
    assert client.receive_text('43/live,0["ok"]') == Acked("/live", 0, ["ok"])


def test_disconnects_both_ways() -> None:
    client = opened(SocketIOClient(namespaces=("/", "/live")))
    client.receive_text('40{"sid":"a"}')
    client.receive_text('40/live,{"sid":"b"}')
    assert client.receive_text("41/live,") == Disconnected("/live")
    client.disconnect("/")
    assert client.data_to_send() == ["41"]
    assert client.connected == {}
    assert client.receive_text("1") == Closed()
    with pytest.raises(SocketIOProtocolError, match="closed"):
        client.receive_text("2")


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        ("", "not an Engine.IO packet"),
        ("x", "not an Engine.IO packet"),
        ("9", "unknown Engine.IO packet"),
        ("4", "without a Socket.IO packet"),
        ("42{not json", "not a Socket.IO packet"),
        ('451-["up",{"_placeholder":true,"num":0}]', "binary"),
        ("42[1,2]", "without an event name"),
        ("47", "unexpected Socket.IO packet"),
        (OPEN, "second Engine.IO open"),
    ],
)
def test_frames_it_cannot_accept_are_named(frame: str, complaint: str) -> None:
    client = opened(SocketIOClient())
    with pytest.raises(SocketIOProtocolError, match=complaint):
        client.receive_text(frame)


def test_nothing_but_the_open_packet_comes_first() -> None:
    with pytest.raises(SocketIOProtocolError, match="before the open packet"):
        SocketIOClient().receive_text("2")
    with pytest.raises(SocketIOProtocolError, match="without a sid"):
        SocketIOClient().receive_text('0{"upgrades":[]}')
    with pytest.raises(ValueError, match="must start with"):
        SocketIOClient(namespaces=("live",))


def test_the_url_asks_for_engine_io_4_over_websocket() -> None:
    assert socketio_url("ws://127.0.0.1:9/") == (
        "ws://127.0.0.1:9/socket.io/?EIO=4&transport=websocket"
    )
    assert socketio_url("https://example.test", "/rt", {"access_token": "a b"}) == (
        "wss://example.test/rt/?EIO=4&transport=websocket&access_token=a+b"
    )
    with pytest.raises(ValueError, match="base URL"):
        socketio_url("ftp://example.test")


# --- the real socket.io server -------------------------------------------------------


@pytest.fixture(scope="module")
def socketio_server() -> Iterator[NodePeer]:
    """Node's socket.io with a fast heartbeat (ping every 300 ms, 400 ms to answer)."""
    check_installed("socket.io")
    peer = NodePeer(
        "socketio_room.js", env={"PING_INTERVAL_MS": "300", "PING_TIMEOUT_MS": "400"}
    )
    yield peer.start()
    peer.stop()


class Session:
    """One WebSocket driven by the state machine alone; every frame kept."""

    def __init__(self, ws: ClientConnection, client: SocketIOClient) -> None:
        self.client = client
        self.ws = ws
        self.received: list[str] = []
        self.answer_pings = True

    def next(self, timeout: float = 5.0) -> Happening:
        """The next thing that happened (sending what the machine queued)."""
        while True:
            text = self.ws.recv(timeout=timeout)
            assert isinstance(text, str)
            self.received.append(text)
            happening = self.client.receive_text(text)
            self.flush()
            if happening is not None and not isinstance(happening, Pinged):
                return happening

    def flush(self) -> None:
        for frame in self.client.data_to_send():
            if frame == "3" and not self.answer_pings:
                continue
            self.ws.send(frame)

    def until_connected(self) -> None:
        assert isinstance(self.next(), Opened)
        for _ in self.client.namespaces:
            assert isinstance(self.next(), Connected)


class Sessions:
    """Opens sessions on the server; all closed at teardown."""

    def __init__(self, server: NodePeer, stack: ExitStack) -> None:
        self.server = server
        self.stack = stack

    def open(self, *namespaces: str, **query: str) -> Session:
        url = socketio_url(self.server.ws_base, query=query)
        ws = self.stack.enter_context(connect(url))
        return Session(ws, SocketIOClient(namespaces=namespaces or ("/",)))


@pytest.fixture
def sessions(socketio_server: NodePeer) -> Iterator[Sessions]:
    with ExitStack() as stack:
        yield Sessions(socketio_server, stack)


def test_the_real_handshake_and_namespace_connect(sessions: Sessions) -> None:
    session = sessions.open("/", "/live")
    happened = session.next()
    assert isinstance(happened, Opened)
    assert (happened.ping_interval_ms, happened.ping_timeout_ms) == (300, 400)
    assert re.fullmatch(r'0\{"sid":"[^"]+",.*"pingInterval":300.*\}', session.received[0])
    connected = {session.next(), session.next()}
    assert {c.namespace for c in connected if isinstance(c, Connected)} == {"/", "/live"}
    assert any(re.fullmatch(r'40/live,\{"sid":"[^"]+"\}', f) for f in session.received)
    assert any(re.fullmatch(r'40\{"sid":"[^"]+"\}', f) for f in session.received)


def test_a_room_broadcast_arrives_with_the_stamp_on_every_socket_in_the_room(
    sessions: Sessions,
) -> None:
    receivers = [sessions.open("/live") for _ in range(3)]
    left_out = sessions.open("/live", room="none")
    for session in [*receivers, left_out]:
        session.until_connected()
    stamp = new_stamp("publisher-1", 1)
    receivers[0].client.emit("notification", stamped_payload(stamp), namespace="/live")
    receivers[0].flush()
    for session in receivers:
        event = session.next()
        assert isinstance(event, Event)
        assert (event.namespace, event.name) == ("/live", "notification")
        assert find_stamps_in_value(event.args) == [stamp]
        assert session.received[-1].startswith('42/live,["notification",{"wsh_stamp":')
    receivers[0].client.emit("kick-me", namespace="/live")  # a marker after the broadcast
    receivers[0].flush()
    assert receivers[0].next() == Disconnected("/live")
    assert receivers[0].received[-1] == "41/live,"
    left_out.client.emit("whoami", namespace="/live")  # after the broadcast was sent
    left_out.flush()
    marker = left_out.next()
    assert isinstance(marker, Event) and marker.name == "you"  # the broadcast skipped it


def test_the_heartbeat_is_answered_and_the_socket_stays(sessions: Sessions) -> None:
    session = sessions.open()
    session.until_connected()
    pings = 0
    while pings < 4:  # 4 pings, 300 ms apart: past interval + timeout (700 ms) twice
        text = session.ws.recv(timeout=5)
        assert isinstance(text, str)
        pings += isinstance(session.client.receive_text(text), Pinged)
        session.flush()
    session.client.emit("notification", {"still": "here"})
    session.flush()
    assert session.next() == Event("/", "notification", [{"still": "here"}])


def test_a_client_that_does_not_answer_pings_is_closed_by_the_server(
    sessions: Sessions,
) -> None:
    session = sessions.open()
    session.answer_pings = False
    session.until_connected()
    with pytest.raises(ConnectionClosed):
        while True:
            session.next(timeout=5)
    assert session.received.count("2") >= 1


def test_a_refusing_namespace_and_an_unknown_one(sessions: Sessions) -> None:
    session = sessions.open("/private", "/nope")
    assert isinstance(session.next(), Opened)
    refusals = {session.next(), session.next()}
    assert refusals == {
        ConnectRefused("/private", "not authorized"),
        ConnectRefused("/nope", "Invalid namespace"),
    }
    assert '44/private,{"message":"not authorized"}' in session.received
    assert json.loads(session.received[-1].split(",", 1)[1])["message"] in {
        "not authorized",
        "Invalid namespace",
    }
