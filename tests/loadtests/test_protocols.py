"""loadclient/protocols.py and preflight.py: one clear line per misconfiguration.

The topic lookup runs against the real Pub/Sub emulator.
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import replace
from typing import Any

import pytest
import requests

from tests.pubsub.pubsub_emulator import Emulator
from wsharness.loadclient.preflight import EXIT_MISCONFIGURED, check_run
from wsharness.loadclient.protocols import (
    PROTOCOLS,
    ProtocolOptions,
    RunSetup,
    add_arguments,
    first_misconfiguration,
    misconfigurations,
    place_token,
    resolve,
    subscribe_frames,
)
from wsharness.localserver import free_port

EMULATOR_ENV = {"GOOGLE_CLOUD_PROJECT": "test-project"}


def setup(protocol: str = "wsharness", **fields: Any) -> RunSetup:
    """A setup that can run, with ``fields`` changed."""
    chosen = ProtocolOptions(protocol=protocol)
    options = {k: v for k, v in fields.items() if hasattr(chosen, k)}
    rest = {k: v for k, v in fields.items() if not hasattr(chosen, k)}
    base = RunSetup(chosen=replace(chosen, **options), has_token_source=True)
    return replace(base, **rest)


def test_the_options_parse_with_their_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert ProtocolOptions.from_parsed(parser.parse_args([])) == ProtocolOptions()
    parsed = parser.parse_args(
        ["--protocol", "socketio", "--socketio-namespace", "/live", "--token-in", "query"]
    )
    chosen = ProtocolOptions.from_parsed(parsed)
    assert (chosen.protocol, chosen.socketio_namespace, chosen.token_in) == (
        "socketio",
        "/live",
        "query",
    )
    assert ProtocolOptions.from_parsed(None) == ProtocolOptions()
    with pytest.raises(SystemExit):
        parser.parse_args(["--protocol", "mqtt"])


def test_raw_is_the_echo_protocol() -> None:
    assert resolve("wsharness", raw=True) is PROTOCOLS["echo"]
    assert resolve("echo", raw=False) is PROTOCOLS["echo"]
    assert resolve("relay", raw=False).deliveries == "stamp"
    assert PROTOCOLS["socketio"].ws_path == "/socket.io/"
    assert not any(PROTOCOLS[name].token_required for name in ("echo", "relay", "socketio"))


def test_a_run_that_can_run_has_no_problem() -> None:
    assert misconfigurations(setup()) == []
    assert (
        misconfigurations(setup("echo", has_token_source=False, has_publishers=False)) == []
    )
    assert (
        misconfigurations(
            setup(
                "relay",
                has_token_source=False,
                publish_via="pubsub",
                environ=EMULATOR_ENV,
                topic_exists=True,
            )
        )
        == []
    )
    assert (
        misconfigurations(
            setup("relay", publish_via="http", publish_url="http://127.0.0.1:9/publish")
        )
        == []
    )
    assert misconfigurations(setup("socketio", has_token_source=False)) == []


PROBLEMS = {
    "missing project": (
        setup(publish_via="pubsub", environ={}),
        "--publish-via pubsub needs GOOGLE_CLOUD_PROJECT",
    ),
    "topic that does not exist": (
        setup(
            publish_via="pubsub",
            environ=EMULATOR_ENV,
            pubsub_topic="nope",
            topic_exists=False,
        ),
        "Pub/Sub topic projects/test-project/topics/nope does not exist",
    ),
    "relay with no publisher": (
        setup("relay", has_publishers=False),
        "--protocol relay measures what the harness publishes, and nothing publishes",
    ),
    "relay publishing through its socket": (
        setup("relay", publish_via="server"),
        "--protocol relay has no publish frame",
    ),
    "http without a URL": (
        setup("relay", publish_via="http"),
        "--publish-via http needs --publish-url URL",
    ),
    "a URL without http": (
        setup(publish_via="pubsub", environ=EMULATOR_ENV, publish_url="http://x/"),
        "--publish-url is for --publish-via http",
    ),
    "a URL that is not HTTP": (
        setup("relay", publish_via="http", publish_url="ws://127.0.0.1:9/"),
        "use an http:// or https:// URL",
    ),
    "no token for the contract": (
        setup(has_token_source=False),
        "no token source: set --jwt-secret",
    ),
    "token in the query without a token": (
        setup(
            "relay",
            publish_via="http",
            publish_url="http://x/",
            token_in="query",
            has_token_source=False,
        ),
        "--token-in query needs a token source",
    ),
    "raw with another protocol": (
        setup("relay", raw=True, publish_via="http", publish_url="http://x/"),
        "--raw is --protocol echo",
    ),
    "echo with publishers": (
        setup("echo", has_publishers=True),
        "--protocol echo has no publishing",
    ),
    "subscribe frame on socketio": (
        setup("socketio", subscribe_frame='{"t":"{topic}"}'),
        "--subscribe-frame is for --protocol relay",
    ),
    "empty subscribe frame": (
        setup("relay", publish_via="http", publish_url="http://x/", subscribe_frame=" "),
        "--subscribe-frame is empty",
    ),
    "bad stamp path": (
        setup("relay", publish_via="http", publish_url="http://x/", stamp_path="a..b"),
        "--stamp-path 'a..b': empty segment",
    ),
    "stamp path on the contract": (
        setup(stamp_path="data"),
        "--stamp-path is for --protocol relay or socketio",
    ),
    "namespace without a slash": (
        setup("socketio", socketio_namespace="live"),
        "--socketio-namespace 'live' must start with /",
    ),
    "no event name": (setup("socketio", socketio_event=" "), "--socketio-event is empty"),
    "negative grace": (setup(completeness_grace=-1.0), "--completeness-grace -1.0"),
}


@pytest.mark.parametrize("case", PROBLEMS)
def test_each_misconfiguration_gets_one_clear_line(case: str) -> None:
    broken, expected = PROBLEMS[case]
    problems = misconfigurations(broken)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected) or expected in problems[0], problems[0]
    assert "\n" not in problems[0]
    assert first_misconfiguration(broken) == problems[0]


def test_the_default_topic_is_named_when_none_is_given() -> None:
    missing = setup(publish_via="pubsub", environ=EMULATOR_ENV, topic_exists=False)
    assert "topics/wsharness-notifications does not exist" in str(
        first_misconfiguration(missing)
    )
    from_env = replace(missing, environ={**EMULATOR_ENV, "WSH_PUBSUB_TOPIC": "alerts"})
    assert "topics/alerts does not exist" in str(first_misconfiguration(from_env))


def test_receivers_alone_need_no_pubsub_project() -> None:
    """Only publishers use --publish-via: a run of receivers does not ask for a project."""
    receivers = setup(
        "relay", has_publishers=False, publish_url="http://x/", publish_via="http"
    )
    assert misconfigurations(receivers) == []
    assert misconfigurations(setup(publish_via="pubsub", has_publishers=False)) == []


def test_the_token_goes_in_the_header_or_the_query() -> None:
    assert place_token("ws://h/ws", None, "query") == ("ws://h/ws", {})
    assert place_token("ws://h/ws", "t.k.n", "header") == (
        "ws://h/ws",
        {"Authorization": "Bearer t.k.n"},
    )
    assert place_token("ws://h/ws?x=1&access_token=old", "t/k+n", "query") == (
        "ws://h/ws?x=1&access_token=t%2Fk%2Bn",
        {},
    )
    with pytest.raises(ValueError, match="header or query"):
        place_token("ws://h/ws", "t", "cookie")


def test_the_subscribe_frame_is_filled_in_per_topic() -> None:
    template = '{"action":"subscribe","channel":"{topic}"}'
    assert subscribe_frames(template, ["news", "sport"]) == [
        '{"action":"subscribe","channel":"news"}',
        '{"action":"subscribe","channel":"sport"}',
    ]
    assert subscribe_frames('{"action":"subscribe"}', ["news", "sport"]) == [
        '{"action":"subscribe"}'
    ]
    assert subscribe_frames(None, ["news"]) == []


# --- the topic looked up on the real emulator ----------------------------------------


def pubsub_setup(emulator: Emulator, topic: str) -> RunSetup:
    return setup("relay", publish_via="pubsub", pubsub_topic=topic, environ=emulator.env)


def test_a_topic_that_does_not_exist_is_named(emulator: Emulator) -> None:
    topic = f"wsh-missing-{secrets.token_hex(4)}"
    problem = check_run(pubsub_setup(emulator, topic))
    assert problem is not None
    assert problem.startswith(
        f"Pub/Sub topic projects/test-project/topics/{topic} does not exist"
    )
    assert emulator.host in problem
    assert EXIT_MISCONFIGURED == 2


def test_a_topic_that_exists_passes(emulator: Emulator) -> None:
    topic = f"wsh-present-{secrets.token_hex(4)}"
    url = f"http://{emulator.host}/v1/projects/{emulator.project}/topics/{topic}"
    assert requests.put(url, timeout=10).status_code == 200
    assert check_run(pubsub_setup(emulator, topic)) is None


def test_an_emulator_that_does_not_answer_is_one_line() -> None:
    gone = {**EMULATOR_ENV, "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}"}
    problem = check_run(setup("relay", publish_via="pubsub", environ=gone))
    assert problem is not None and problem.startswith("Pub/Sub at 127.0.0.1:")
    assert "did not answer (ConnectionError)" in problem


def test_no_lookup_when_an_earlier_check_fails(emulator: Emulator) -> None:
    no_project = replace(pubsub_setup(emulator, "x"), environ={})
    assert str(check_run(no_project)).startswith("--publish-via pubsub needs")


def test_the_socketio_path_is_the_codecs() -> None:
    from wsharness.loadclient.protocols import SOCKETIO_PATH
    from wsharness.loadclient.socketio_codec import DEFAULT_PATH

    assert PROTOCOLS["socketio"].ws_path == SOCKETIO_PATH == DEFAULT_PATH
