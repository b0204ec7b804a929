"""Fixtures for the Pub/Sub tests: one real emulator per session, brokers on it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from google.cloud import pubsub_v1

from tests.pubsub.pubsub_emulator import Emulator
from wsharness.server.brokers.pubsub import PubSubBroker, PubSubConfig


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[Emulator]:
    """The Pub/Sub emulator; a missing gcloud or emulator component fails the test."""
    emulator = Emulator()
    emulator.start()
    yield emulator
    emulator.close()


@pytest.fixture
def pubsub_env(pubsub_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """Point the client library (and ``--broker pubsub`` servers) at the emulator."""
    if not pubsub_emulator.running:  # an earlier outage test may have stopped it
        pubsub_emulator.start()
    for name, value in pubsub_emulator.env.items():
        monkeypatch.setenv(name, value)
    return pubsub_emulator


@pytest.fixture
def pubsub_topic() -> str:
    """A Pub/Sub topic of this test's own, so tests never see each other's messages."""
    return f"wsh-test-{secrets.token_hex(4)}"


@pytest.fixture
async def make_broker(
    pubsub_env: Emulator, pubsub_topic: str
) -> AsyncIterator[Callable[..., PubSubBroker]]:
    """Brokers on this test's topic (config overrides as keywords); stopped at teardown."""
    made: list[PubSubBroker] = []

    def make(on_outage: Callable[[], None] | None = None, **overrides: Any) -> PubSubBroker:
        config = PubSubConfig(project=pubsub_env.project, topic=pubsub_topic, **overrides)
        broker = PubSubBroker(config, on_outage=on_outage)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.stop()


@pytest.fixture
def subscription_admin(pubsub_env: Emulator) -> Iterator[pubsub_v1.SubscriberClient]:
    """A plain admin client on the emulator, to look at subscriptions from outside."""
    client = pubsub_v1.SubscriberClient()
    yield client
    client.close()
