"""Publishers straight to Pub/Sub (REST): the real emulator, a pubsub-broker server."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.servers import SECRET, ServerProcess, free_port
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


def web_stats(web: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(web + "/stats/requests", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return {}


def counts(web: str, name: str) -> tuple[int, int]:
    """(requests, failures) of ``name`` in the web UI's statistics."""
    for entry in web_stats(web).get("stats", []):
        if entry["name"] == name:
            return entry["num_requests"], entry["num_failures"]
    return 0, 0


def wait_for(check: Callable[[], bool], locust: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 40
    while not check():
        assert locust.poll() is None, "locust exited early"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_a_new_pubsub_topic_in_the_web_ui_is_used_by_the_next_swarm(
    emulator: Emulator, tmp_path: Path
) -> None:
    topic_env = {**emulator.env, "WSH_PUBSUB_TOPIC": f"wsh-locust-{secrets.token_hex(4)}"}
    server = ServerProcess(WSH_BROKER="pubsub", **topic_env).start(timeout=60)
    web_port = free_port()
    web = f"http://127.0.0.1:{web_port}"
    command = [
        sys.executable, "-m", "locust", "-f", locustfiles("idle", "publisher"),
        "--host", ws_host(server), "--web-host", "127.0.0.1", "--web-port", str(web_port),
        "--publish-via", "pubsub", "--publish-rate", "5", "--sockets-log-interval", "0",
    ]  # fmt: skip
    env = {**os.environ, **emulator.env, "WSH_JWT_SECRET": SECRET}
    env.pop("WSH_PUBSUB_TOPIC", None)
    log = tmp_path / "locust.log"
    with log.open("wb") as output:
        locust = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: bool(web_stats(web)), locust, "the web UI")

        def swarm(pubsub_topic: str) -> None:
            form = {"user_count": 6, "spawn_rate": 6, "host": ws_host(server),
                    "pubsub_topic": pubsub_topic}  # fmt: skip
            body = urllib.parse.urlencode(form).encode()
            urllib.request.urlopen(web + "/swarm", data=body, timeout=10).read()

        swarm("wsh-no-such-topic")  # the emulator has no such topic: refused at once
        wait_for(lambda: web_stats(web).get("state") == "stopped", locust, "the refusal")
        refusal = "Pub/Sub topic projects/test-project/topics/wsh-no-such-topic does not"
        wait_for(lambda: refusal in log.read_text(), locust, "the line naming the topic")
        assert counts(web, "publish") == (0, 0) and counts(web, "deliver") == (0, 0)

        swarm(topic_env["WSH_PUBSUB_TOPIC"])  # the server's topic: now delivered
        wait_for(lambda: counts(web, "deliver")[0] > 0, locust, "a delivery")
    finally:
        locust.terminate()
        locust.wait(timeout=20)
        server.stop()
