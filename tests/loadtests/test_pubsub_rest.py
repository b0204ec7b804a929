"""Publishers straight to Pub/Sub (REST): the real emulator, a pubsub-broker server."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.servers import ServerProcess
from wsharness.loadclient import pubsub_rest
from wsharness.server.brokers import pubsub as broker


def test_the_message_layout_is_the_brokers() -> None:
    assert pubsub_rest.TOPIC_ATTRIBUTE == broker.TOPIC_ATTRIBUTE
    assert pubsub_rest.PUBLISHED_AT_ATTRIBUTE == broker.PUBLISHED_AT_ATTRIBUTE
    assert pubsub_rest.DEFAULT_TOPIC == broker.DEFAULT_TOPIC
    (message,) = pubsub_rest.publish_body("news", {"seq": 1}, "00-ab-cd-01")["messages"]
    assert json.loads(base64.b64decode(message["data"])) == {"seq": 1}
    assert message["orderingKey"] == message["attributes"]["wsh_topic"] == "news"
    assert message["attributes"]["traceparent"] == "00-ab-cd-01"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The real Pub/Sub emulator; a missing gcloud fails the test."""
    running = Emulator()
    running.start()
    yield running
    running.close()


def test_publishes_through_pubsub_reach_the_sockets_in_sequence(
    emulator: Emulator, tmp_path: Path
) -> None:
    topic_env = {**emulator.env, "WSH_PUBSUB_TOPIC": f"wsh-locust-{secrets.token_hex(4)}"}
    server = ServerProcess(WSH_BROKER="pubsub", **topic_env).start(timeout=60)
    try:
        run = run_locust(
            locustfiles("idle", "publisher"),
            ws_host(server),
            tmp_path,
            users=6,
            seconds=5,
            extra=("--publish-via", "pubsub", "--publish-rate", "5"),
            env_extra=topic_env,
        )
    finally:
        server.stop()

    assert run.returncode == 0, run.output
    assert run.failures == []  # no HTTP refusals, no gaps, no duplicates
    assert run.count("publish") > 10
    assert run.count("deliver") >= run.count("publish")  # five idle sockets each
    assert run.max_open_sockets == 5  # the publisher holds no socket: REST only
