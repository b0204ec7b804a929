"""A real Socket.IO v4 server broadcasting to a room, measured with stamps and accounts.

``tests/peers/socketio_room.js`` (npm ``socket.io``); the client is the test's own:
``websockets`` sockets driven by the sans-I/O
:class:`~wsharness.loadclient.socketio_codec.SocketIOClient`.  A publisher socket
emits stamped notifications that the server broadcasts to the room of namespace
``/live``: every socket in the room receives all of them, the one left out of the
room none, and one that leaves the room for a while shows the gap it left.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.node_peers import NodePeer
from tests.support.stamp_receivers import Receivers
from wsharness.loadclient.completeness import Arrival, PublishLedger, SocketAccount
from wsharness.loadclient.socketio_codec import (
    Connected,
    Event,
    SocketIOClient,
    socketio_url,
)
from wsharness.loadclient.stamp import new_stamp, stamped_payload

NAMESPACE = "/live"
EVENT = "notification"
CONTROL_WAIT_S = 10.0


class SioSocket:
    """One socket: its frames go through the state machine; notifications are booked."""

    def __init__(
        self, ws: ClientConnection, name: str, receivers: Receivers | None
    ) -> None:
        """``receivers`` None: a publisher's socket, which books nothing."""
        self.ws = ws
        self.name = name
        self.receivers = receivers
        self.client = SocketIOClient(namespaces=(NAMESPACE,))
        self.connected = asyncio.Event()
        self.account: SocketAccount | None = None
        self.controls: asyncio.Queue[Event] = asyncio.Queue()

    async def run(self) -> None:
        async for frame in self.ws:
            assert isinstance(frame, str)
            happening = self.client.receive_text(frame)
            await self.flush()
            if isinstance(happening, Connected):
                if self.receivers is not None:
                    self.account = self.receivers.subscribed(self.name)
                self.connected.set()
            elif isinstance(happening, Event) and happening.name == EVENT:
                assert self.receivers is not None and self.account is not None
                self.receivers.take_value(self.account, happening.args)
            elif isinstance(happening, Event):
                self.controls.put_nowait(happening)

    async def flush(self) -> None:
        for frame in self.client.data_to_send():
            await self.ws.send(frame)

    async def emit(self, name: str, *args: object) -> None:
        self.client.emit(name, *args, namespace=NAMESPACE)
        await self.flush()

    async def ask(self, name: str, answer: str) -> None:
        """Emit ``name`` and wait for the server's ``answer`` event."""
        await self.emit(name)
        reply = await asyncio.wait_for(self.controls.get(), CONTROL_WAIT_S)
        assert reply.name == answer, reply


class Room:
    """The test's sockets on the server, closed at teardown."""

    def __init__(self, server: NodePeer, stack: AsyncExitStack) -> None:
        self.server = server
        self.stack = stack
        self.receivers = Receivers()
        self.tasks: list[asyncio.Task[None]] = []

    async def open(
        self, name: str, in_room: bool = True, receives: bool = True
    ) -> SioSocket:
        query = {} if in_room else {"room": "none"}
        ws = await self.stack.enter_async_context(
            connect(socketio_url(self.server.ws_base, query=query))
        )
        socket = SioSocket(ws, name, self.receivers if receives else None)
        self.tasks.append(asyncio.create_task(socket.run()))
        await asyncio.wait_for(socket.connected.wait(), CONTROL_WAIT_S)
        return socket

    def delivered_to(self, sockets: list[SioSocket]) -> int:
        return min(s.account.counts().delivered if s.account else 0 for s in sockets)


@pytest.fixture
async def room(socketio_room: NodePeer) -> AsyncIterator[Room]:
    async with AsyncExitStack() as stack:
        made = Room(socketio_room, stack)
        yield made
        for task in made.tasks:
            task.cancel()


async def publish(
    publisher: SioSocket, ledger: PublishLedger, sequences: range, interval_s: float = 0.005
) -> None:
    """Emit one stamped notification per sequence number through the publisher's socket."""
    for sequence in sequences:
        stamp = new_stamp("publisher-sio", sequence)
        await publisher.emit(EVENT, stamped_payload(stamp, pad="x" * 64))
        ledger.record(stamp.stream, stamp.sequence, stamp.published_at_ms)
        await asyncio.sleep(interval_s)  # the publish rate, not a synchronisation


async def test_a_room_broadcast_is_complete_in_the_room_and_empty_outside(
    room: Room,
) -> None:
    publisher = await room.open("publisher", in_room=False, receives=False)
    members = [await room.open(f"member-{i}") for i in range(3)]
    left_out = await room.open("left-out", in_room=False)
    ledger = PublishLedger()

    await publish(publisher, ledger, range(1, 61))
    await room.receivers.wait_until(lambda: room.delivered_to(members) >= 60)
    await left_out.ask("whoami", "you")  # anything sent to it before has arrived

    results, run = room.receivers.assess(ledger, grace_ms=0.0)
    ratios = {r.socket_id: r.ratio for r in results}
    assert ratios == {"member-0": 1.0, "member-1": 1.0, "member-2": 1.0, "left-out": 0.0}
    missing = {r.socket_id: r.missing for r in results}
    assert missing["left-out"] == 60 and missing["member-0"] == 0
    assert (run.expected, run.received, run.complete_sockets) == (240, 180, 3)
    assert run.ratio == 0.75 and run.lowest == 0.0
    assert room.receivers.settle(grace_ms=0.0) == {r.socket_id: [] for r in results}
    assert all(m.account and m.account.counts().gaps == 0 for m in members)
    assert len(room.receivers.latencies_ms) == 180
    assert all(0 < latency < 30_000 for latency in room.receivers.latencies_ms)
    assert statistics.median(room.receivers.latencies_ms) < 5_000


async def test_a_socket_out_of_the_room_for_a_while_shows_its_gap(room: Room) -> None:
    publisher = await room.open("publisher", in_room=False, receives=False)
    stays = await room.open("stays")
    wanders = await room.open("wanders")
    ledger = PublishLedger()
    both = [stays, wanders]

    await publish(publisher, ledger, range(1, 21))
    await room.receivers.wait_until(lambda: room.delivered_to(both) >= 20)
    await wanders.ask("leave-room", "left")
    await publish(publisher, ledger, range(21, 41))
    await room.receivers.wait_until(lambda: room.delivered_to([stays]) >= 40)
    await wanders.ask("join-room", "joined")
    await publish(publisher, ledger, range(41, 61))
    await room.receivers.wait_until(lambda: room.delivered_to(both) >= 40)
    await room.receivers.wait_until(lambda: room.delivered_to([stays]) >= 60)

    verdicts = room.receivers.verdicts["wanders"]
    assert verdicts[19:21] == [(Arrival.IN_ORDER, 0), (Arrival.GAP, 20)]  # 21..40 skipped
    assert verdicts.count((Arrival.GAP, 20)) == 1
    results, run = room.receivers.assess(ledger, grace_ms=0.0)
    assert (run.expected, run.received, run.missing) == (120, 100, 20)
    by_socket = {r.socket_id: r for r in results}
    assert (by_socket["stays"].ratio, by_socket["stays"].missing) == (1.0, 0)
    assert (by_socket["wanders"].received, by_socket["wanders"].missing) == (40, 20)
    assert by_socket["wanders"].ratio == pytest.approx(40 / 60)
    assert wanders.account is not None
    assert room.receivers.settle(grace_ms=0.0)["wanders"] == [(("", "publisher-sio"), 20)]
    counts = wanders.account.counts()
    assert (counts.gaps, counts.missing, counts.delivered) == (1, 20, 40)
