"""A Node ``ws`` relay on the real Pub/Sub emulator, measured with stamps and accounts.

Two variants of ``tests/peers/pubsub_relay.js``: one that fans every message out to
all its sockets (complete, no gaps), and one whose sockets share one subscription, so
Pub/Sub splits the messages between them (gaps, completeness about 1 / sockets).
The client is the test's own (``websockets``) with the pure stamp and completeness
modules; publishing goes straight to Pub/Sub (REST) or through the relay's HTTP
endpoint (:class:`~wsharness.loadclient.http_publish.HttpPublisher`).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.pubsub.pubsub_emulator import Emulator
from tests.support.node_peers import NodePeer
from tests.support.stamp_receivers import Receivers, publish_stamped
from wsharness.loadclient.completeness import (
    Arrival,
    PublishLedger,
    SocketAccount,
)
from wsharness.loadclient.http_publish import HttpPublisher
from wsharness.loadclient.pubsub_rest import PubSubRestPublisher

SOCKETS = 4
MESSAGES = 60


async def read_frames(
    ws: ClientConnection, receivers: Receivers, account: SocketAccount
) -> None:
    async for frame in ws:
        if isinstance(frame, str):
            receivers.take_text(account, frame)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as sockets:
        yield sockets


async def open_sockets(
    relay: NodePeer,
    receivers: Receivers,
    stack: AsyncExitStack,
    count: int,
    name: str = "socket",
) -> list[asyncio.Task[None]]:
    """``count`` sockets on the relay's /ws, each read into its own account."""
    readers = []
    for index in range(count):
        ws = await stack.enter_async_context(connect(f"{relay.ws_base}/ws"))
        account = receivers.subscribed(f"{name}-{index}")  # the relay needs no frame
        readers.append(asyncio.create_task(read_frames(ws, receivers, account)))
    return readers


async def test_the_fanout_relay_delivers_everything_to_every_socket(
    emulator: Emulator, fanout_relay: NodePeer, topic: str, stack: AsyncExitStack
) -> None:
    receivers = Receivers()
    readers = await open_sockets(fanout_relay, receivers, stack, SOCKETS)
    ledger = PublishLedger()
    pubsub = PubSubRestPublisher("test-project", topic, emulator.host)

    def publish(payload: dict[str, object]) -> None:
        pubsub.publish(topic, payload)

    await asyncio.to_thread(
        publish_stamped, publish, ledger, "publisher-1", range(1, MESSAGES + 1)
    )
    await receivers.wait_until(lambda: receivers.delivered() >= SOCKETS * MESSAGES)

    assert receivers.settle(grace_ms=0.0) == {a.socket_id: [] for a in receivers.accounts}
    results, run = receivers.assess(ledger, grace_ms=0.0)
    assert [r.ratio for r in results] == [1.0] * SOCKETS
    assert (run.expected, run.received, run.missing) == (SOCKETS * MESSAGES,) * 2 + (0,)
    assert run.ratio == 1.0 and run.complete_sockets == SOCKETS
    for account in receivers.accounts:
        counts = account.counts()  # out of order may happen: Pub/Sub keeps no order here
        assert (counts.delivered, counts.missing, counts.gaps) == (MESSAGES, 0, 0)
        assert counts.duplicates == 0
    assert len(receivers.latencies_ms) == SOCKETS * MESSAGES
    assert all(0 < latency < 30_000 for latency in receivers.latencies_ms)
    assert statistics.median(receivers.latencies_ms) < 5_000
    for reader in readers:
        reader.cancel()


async def test_a_socket_joining_mid_stream_counts_from_its_subscription(
    emulator: Emulator, fanout_relay: NodePeer, topic: str, stack: AsyncExitStack
) -> None:
    receivers = Receivers()
    readers = await open_sockets(fanout_relay, receivers, stack, 1, name="early")
    ledger = PublishLedger()
    pubsub = PubSubRestPublisher("test-project", topic, emulator.host)

    def publish(payload: dict[str, object]) -> None:
        pubsub.publish(topic, payload)

    joins_after = MESSAGES // 3
    await asyncio.to_thread(
        publish_stamped, publish, ledger, "p1", range(1, joins_after + 1)
    )
    await receivers.wait_until(lambda: receivers.delivered() >= joins_after)
    readers += await open_sockets(fanout_relay, receivers, stack, 1, name="late")
    rest = range(joins_after + 1, MESSAGES + 1)
    await asyncio.to_thread(publish_stamped, publish, ledger, "p1", rest)
    early, late = receivers.accounts
    await receivers.wait_until(lambda: receivers.delivered() >= MESSAGES + len(rest))

    assert receivers.settle(grace_ms=0.0) == {"early-0": [], "late-0": []}
    results, _ = receivers.assess(ledger, grace_ms=0.0)
    by_socket = {r.socket_id: r for r in results}
    assert (by_socket["early-0"].expected, by_socket["early-0"].ratio) == (MESSAGES, 1.0)
    assert (by_socket["late-0"].expected, by_socket["late-0"].ratio) == (len(rest), 1.0)
    assert receivers.verdicts["late-0"][0] == (Arrival.FIRST, 0)  # its baseline
    for account, delivered in ((late, len(rest)), (early, MESSAGES)):
        counts = account.counts()
        assert (counts.delivered, counts.missing, counts.gaps) == (delivered, 0, 0)
    for reader in readers:
        reader.cancel()


async def test_the_shared_subscription_splits_messages_into_gaps(
    shared_relay: NodePeer, stack: AsyncExitStack
) -> None:
    receivers = Receivers()
    readers = await open_sockets(shared_relay, receivers, stack, SOCKETS)
    ledger = PublishLedger()
    backend = HttpPublisher(f"{shared_relay.http_url}/publish")  # the relay's own endpoint
    await asyncio.to_thread(
        publish_stamped, backend.publish, ledger, "publisher-1", range(1, MESSAGES + 1)
    )
    # Each message reaches one socket (Pub/Sub splits a subscription between its pulls).
    await receivers.wait_until(lambda: receivers.delivered() >= MESSAGES)

    results, run = receivers.assess(ledger, grace_ms=0.0)
    assert run.expected == SOCKETS * MESSAGES
    assert run.ratio is not None
    assert abs(run.ratio - 1 / SOCKETS) < 0.1, run
    assert run.missing > 0 and run.complete_sockets == 0
    receiving = [a for a in receivers.accounts if a.counts().delivered]
    assert len(receiving) >= 2, [a.counts() for a in receivers.accounts]  # really split
    confirmed = receivers.settle(grace_ms=0.0)  # every hole is still open: gaps
    assert sum(len(gaps) for gaps in confirmed.values()) > 0
    assert sum(a.counts().gaps for a in receiving) > 0
    assert all((r.ratio or 0) < 1 for r in results)
    assert all(0 < latency < 30_000 for latency in receivers.latencies_ms)
    for reader in readers:
        reader.cancel()
