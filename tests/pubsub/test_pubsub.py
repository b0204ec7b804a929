"""The Pub/Sub broker against the real emulator: order, ownership, redelivery, outage."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
from google.cloud import pubsub_v1

from tests.pubsub.pubsub_emulator import Emulator, free_port
from tests.support.servers import wait_until
from wsharness.contract.notification import Notification
from wsharness.server.brokers.base import BrokerUnavailable
from wsharness.server.brokers.pubsub import DEFAULT_TOPIC, PubSubBroker, PubSubConfig

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

MakeBroker = Callable[..., PubSubBroker]


class Inbox:
    """What one instance's ``deliver`` callback was given, in order."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []

    def deliver(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def of(self, topic: str) -> list[Notification]:
        return [n for n in self.notifications if n.topic == topic]

    def ids(self) -> list[str]:
        return [n.id for n in self.notifications]


def subscription_names(admin: pubsub_v1.SubscriberClient, project: str) -> set[str]:
    listing = admin.list_subscriptions(request={"project": f"projects/{project}"})
    return {subscription.name for subscription in listing}


async def test_every_instance_gets_each_topic_in_publish_order(make_broker: MakeBroker):
    first, second = make_broker(), make_broker()
    inbox_first, inbox_second = Inbox(), Inbox()
    await first.start(inbox_first.deliver)
    await second.start(inbox_second.deliver)
    topics = ["orders", "alerts", "chat"]
    published: dict[str, list[str]] = {topic: [] for topic in topics}
    before_ms = int(time.time() * 1000)
    for number in range(25):
        publisher = first if number % 2 else second  # both instances publish
        trace = {"traceparent": TRACEPARENT}
        ids = await asyncio.gather(
            *(publisher.publish(topic, {"n": number}, trace) for topic in topics)
        )
        for topic, message_id in zip(topics, ids, strict=True):
            published[topic].append(message_id)
    total = 25 * len(topics)
    await wait_until(
        lambda: (
            len(inbox_first.notifications) >= total
            and len(inbox_second.notifications) >= total
        ),
        timeout=30,
        what="both instances to receive every message",
    )
    for inbox in (inbox_first, inbox_second):
        assert len(inbox.notifications) == total  # nothing twice
        for topic in topics:
            received = inbox.of(topic)
            assert [n.id for n in received] == published[topic]
            assert [n.data for n in received] == [{"n": i} for i in range(25)]
            assert all(n.trace_context == {"traceparent": TRACEPARENT} for n in received)
            assert all(before_ms <= n.published_at <= time.time() * 1000 for n in received)


async def test_each_instance_owns_a_subscription_deleted_at_stop(
    make_broker: MakeBroker, subscription_admin: pubsub_v1.SubscriberClient
):
    first, second = make_broker(), make_broker()
    await first.start(Inbox().deliver)
    await second.start(Inbox().deliver)
    project = first.config.project
    assert first.subscription_path != second.subscription_path
    assert {first.subscription_path, second.subscription_path} <= subscription_names(
        subscription_admin, project
    )
    created = subscription_admin.get_subscription(
        request={"subscription": first.subscription_path}
    )
    assert created.enable_message_ordering
    assert created.topic == first.topic_path

    await first.stop()

    remaining = subscription_names(subscription_admin, project)
    assert first.subscription_path not in remaining
    assert second.subscription_path in remaining


async def test_failed_deliver_is_retried_in_order_and_delivered_once(
    make_broker: MakeBroker,
):
    attempts: Counter[int] = Counter()
    delivered: list[int] = []

    def deliver(notification: Notification) -> None:
        number = notification.data["n"]
        attempts[number] += 1
        if number == 1 and attempts[number] == 1:
            raise RuntimeError("server could not take it this time")
        delivered.append(number)

    broker = make_broker()
    await broker.start(deliver)
    for number in range(4):
        await broker.publish("orders", {"n": number})
    await wait_until(lambda: len(delivered) >= 4, timeout=30, what="redelivery of n=1")
    assert delivered == [0, 1, 2, 3]  # not lost, not reordered, not duplicated
    assert attempts[1] == 2


async def test_publish_without_start_reaches_running_instances(make_broker: MakeBroker):
    """The ``wsharness publish --broker pubsub`` path: a publisher with no subscription."""
    inbox = Inbox()
    instance = make_broker()
    await instance.start(inbox.deliver)
    publisher = make_broker()

    message_id = await publisher.publish("alerts", {"level": "high"})
    await publisher.stop()

    await wait_until(lambda: inbox.ids() == [message_id], timeout=15, what="the message")
    assert inbox.notifications[0].data == {"level": "high"}


async def test_outage_marks_unhealthy_then_streaming_resumes_by_itself(
    make_broker: MakeBroker, pubsub_env: Emulator
):
    outages: list[float] = []
    inbox = Inbox()
    broker = make_broker(
        on_outage=lambda: outages.append(time.monotonic()),
        probe_interval_s=0.2,
        publish_timeout_s=2.0,
    )
    await broker.start(inbox.deliver)
    before = await broker.publish("orders", {"n": "before"})
    await wait_until(lambda: inbox.ids() == [before], timeout=15, what="first message")
    assert broker.healthy

    await asyncio.to_thread(pubsub_env.stop)
    await wait_until(lambda: not broker.healthy, timeout=10, what="broker to go unhealthy")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.publish("orders", {"n": "during"})
    assert time.monotonic() - started < 5  # refuses, never hangs

    await asyncio.to_thread(pubsub_env.start)  # a new, empty emulator on the same port
    await wait_until(lambda: broker.healthy, timeout=30, what="broker to recover")
    after = await broker.publish("orders", {"n": "after"})
    await wait_until(lambda: len(inbox.ids()) == 2, timeout=15, what="message after outage")
    assert inbox.notifications[-1].id == after
    assert inbox.notifications[-1].data == {"n": "after"}
    assert len(outages) == 1 and broker.outages == 1


async def test_start_fails_promptly_when_pubsub_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nobody there
    broker = PubSubBroker(PubSubConfig(project="test-project", admin_timeout_s=2.0))
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        await broker.start(Inbox().deliver)
    assert time.monotonic() - started < 10
    assert not broker.healthy
    await broker.stop()


def test_config_comes_from_the_environment():
    config = PubSubConfig.from_env({"GOOGLE_CLOUD_PROJECT": "acme"})
    assert (config.project, config.topic) == ("acme", DEFAULT_TOPIC)
    named = PubSubConfig.from_env({"GOOGLE_CLOUD_PROJECT": "a", "WSH_PUBSUB_TOPIC": "t"})
    assert named.topic == "t"
    assert PubSubConfig.from_env({"GOOGLE_CLOUD_PROJECT": "a"}, topic="x").topic == "x"
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        PubSubConfig.from_env({})


async def test_wsharness_publish_command_reaches_running_instances(
    make_broker: MakeBroker, pubsub_topic: str
):
    """``wsharness publish --broker pubsub``: a short-lived process publishing."""
    inbox = Inbox()
    instance = make_broker()
    await instance.start(inbox.deliver)
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wsharness.cli", "publish", "alerts", '{"level": "high"}',
        "--broker", "pubsub",
        env={**os.environ, "WSH_PUBSUB_TOPIC": pubsub_topic},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(command.communicate(), 30)
    assert command.returncode == 0
    printed = json.loads(output.decode().strip().splitlines()[-1])

    await wait_until(lambda: inbox.ids() == [printed["id"]], timeout=15, what="message")
    assert (inbox.notifications[0].topic, inbox.notifications[0].data) == (
        "alerts",
        {"level": "high"},
    )
