"""Two ``wsharness serve --broker pubsub`` instances behind a real nginx, one emulator.

Clients spread over both instances get every message in order; SIGTERM one while
messages flow and its clients get 1001, come back through nginx, resume with
``since`` on the other instance and end with every message exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.cloud import pubsub_v1
from websockets.exceptions import ConnectionClosed

from tests.pubsub.nginx_proxy import NginxProxy
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.clients import open_socket, receive, subscribe
from tests.support.servers import ServerProcess
from wsharness.contract.names import PROM_OPEN_CONNECTIONS
from wsharness.contract.protocol import CloseCode, ServerType
from wsharness.server.brokers.pubsub import PubSubBroker, PubSubConfig

LOGICAL_TOPIC = "news"
# A client told 1001 reconnects at once (at most 50 ms of jitter): it can reach the
# other instance a few milliseconds before that instance's own subscription has
# delivered the cursor, and the server must wait for it rather than answer
# ``recovered: false`` (which would make the client see a message twice).
RECONNECT_BACKOFF_S = (0.0, 0.05)


@dataclass
class Cluster:
    """Two server processes on one Pub/Sub topic, nginx in front, and a publisher."""

    instances: list[ServerProcess]
    proxy: NginxProxy
    publisher: PubSubBroker

    def open_connections(self, instance: ServerProcess) -> float:
        return instance.metric(PROM_OPEN_CONNECTIONS)

    def topic_subscriptions(self) -> list[str]:
        admin = pubsub_v1.PublisherClient()
        try:
            topic = self.publisher.topic_path
            return list(admin.list_topic_subscriptions(request={"topic": topic}))
        finally:
            admin.transport.close()


@pytest.fixture
async def cluster(pubsub_env: Emulator, pubsub_topic: str) -> AsyncIterator[Cluster]:
    env = {
        "WSH_BROKER": "pubsub",
        "WSH_PUBSUB_TOPIC": pubsub_topic,
        "WSH_DRAIN_SECONDS": "2",
        "WSH_DRAIN_BATCHES": "2",
        **pubsub_env.env,
    }
    instances = [ServerProcess(**env), ServerProcess(**env)]
    proxy = NginxProxy([instance.port for instance in instances])
    publisher = PubSubBroker(PubSubConfig(project=pubsub_env.project, topic=pubsub_topic))
    try:
        await asyncio.gather(*(asyncio.to_thread(i.start, 30.0) for i in instances))
        await asyncio.to_thread(proxy.start)
        yield Cluster(instances, proxy, publisher)
    finally:
        await publisher.stop()
        proxy.stop()
        for instance in instances:
            await asyncio.to_thread(instance.stop)


@dataclass
class Follower:
    """A client that follows one topic to the end, resuming after every close."""

    url: str
    sub: str
    expected: int
    numbers: list[int] = field(default_factory=list)
    close_codes: list[int | None] = field(default_factory=list)
    resumes: list[dict[str, Any]] = field(default_factory=list)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        cursor: str | None = None
        while len(self.numbers) < self.expected:
            if self.close_codes:  # back off with jitter before reconnecting, as real
                await asyncio.sleep(random.uniform(*RECONNECT_BACKOFF_S))  # clients do
            cursor = await self._one_connection(cursor)

    async def _one_connection(self, cursor: str | None) -> str | None:
        ws = await open_socket(self.url, self.sub)
        try:
            reply = await subscribe(ws, LOGICAL_TOPIC, since=cursor)
            if cursor is not None:
                self.resumes.append(reply)
            self.subscribed.set()
            while len(self.numbers) < self.expected:
                frame = await receive(ws, timeout=15)
                if frame["type"] == ServerType.MESSAGE:
                    self.numbers.append(frame["data"]["n"])
                    cursor = frame["id"]
        except ConnectionClosed:
            self.close_codes.append(ws.close_code)
        finally:
            await ws.close()
        return cursor


async def publish_numbers(
    publisher: PubSubBroker, count: int, per_second: float, on_number: dict[int, Any]
) -> None:
    """Publish ``{"n": 0..count-1}`` at a steady rate; run ``on_number[n]()`` on the way."""
    for number in range(count):
        if number in on_number:
            on_number[number]()
        await publisher.publish(LOGICAL_TOPIC, {"n": number})
        await asyncio.sleep(1 / per_second)  # the publishing rate, not a synchronisation


async def test_sigterm_one_instance_every_client_still_gets_every_message_once(
    cluster: Cluster,
):
    total = 120
    followers = [Follower(cluster.proxy.ws_url, f"user-{i}", total) for i in range(8)]
    running = [asyncio.create_task(f.run()) for f in followers]
    await asyncio.wait_for(asyncio.gather(*(f.subscribed.wait() for f in followers)), 20)
    doomed, survivor = cluster.instances
    on_doomed = cluster.open_connections(doomed)
    assert on_doomed > 0 and cluster.open_connections(survivor) > 0  # spread over both
    assert doomed.process is not None and survivor.process is not None
    assert len(cluster.topic_subscriptions()) == 2

    await publish_numbers(cluster.publisher, total, 40, {40: doomed.terminate})
    await asyncio.wait_for(asyncio.gather(*running), 60)

    for follower in followers:
        # every message, once, in order
        assert follower.numbers == list(range(total)), follower
        assert set(follower.close_codes) <= {CloseCode.GOING_AWAY}
        assert all(reply["recovered"] for reply in follower.resumes)
    moved = [f for f in followers if f.close_codes]
    assert len(moved) == on_doomed  # every client of the drained instance came back
    assert await asyncio.to_thread(doomed.process.wait, 30) == 0
    remaining = cluster.topic_subscriptions()
    assert len(remaining) == 1 and f"-{survivor.process.pid}-" in remaining[0]


async def test_cursor_from_one_instance_resumes_on_the_other(cluster: Cluster):
    first, second = cluster.instances
    on_first = await open_socket(first.ws_url, "alice")
    await subscribe(on_first, LOGICAL_TOPIC)
    for number in range(3):
        await cluster.publisher.publish(LOGICAL_TOPIC, {"n": number})
    seen = [await receive(on_first, timeout=10) for _ in range(3)]
    assert [frame["data"]["n"] for frame in seen] == [0, 1, 2]
    await on_first.close()
    for number in range(3, 6):
        await cluster.publisher.publish(LOGICAL_TOPIC, {"n": number})

    on_second = await open_socket(second.ws_url, "alice")
    reply = await subscribe(on_second, LOGICAL_TOPIC, since=seen[-1]["id"])
    assert reply["recovered"] is True
    resumed = [await receive(on_second, timeout=10) for _ in range(3)]
    assert [frame["data"]["n"] for frame in resumed] == [3, 4, 5]
    unknown = await subscribe(on_second, "elsewhere", since="not-a-message-id")
    assert unknown["recovered"] is False  # never a silent gap
    await on_second.close()
