"""Fixtures for the Locust suite's tests: the real server in a subprocess, the Pub/Sub
emulator, and the Node peers (``tests/peers/``) a run or a test's own client talks to."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.loadtests.runs import LocustRun, locustfiles, run_locust, ws_host
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.node_peers import NodePeer, check_installed
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def suite_server() -> Iterator[ServerProcess]:
    """``wsharness serve`` on a free loopback port; tokens warned 2 s before expiry."""
    server = ServerProcess(WSH_TOKEN_WARNING_SECONDS="2").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_queue_server() -> Iterator[ServerProcess]:
    """A server whose per-socket send queue holds 20 messages: stalls end in 1013."""
    server = ServerProcess(WSH_SEND_QUEUE_MESSAGES="20").start()
    yield server
    server.stop()


class SuiteRun(Protocol):
    """Runs some of the suite's locustfiles (by name) against ``suite_server``."""

    def __call__(
        self, *names: str, users: int, seconds: int, extra: tuple[str, ...] = ()
    ) -> LocustRun: ...


@pytest.fixture
def suite_run(suite_server: ServerProcess, tmp_path: Path) -> SuiteRun:
    """A Locust run of the named locustfiles against ``suite_server`` in ``tmp_path``
    with the suite's secret; it must exit 0 (the output is shown when it does not)."""

    def run(
        *names: str, users: int, seconds: int, extra: tuple[str, ...] = ()
    ) -> LocustRun:
        files, host = locustfiles(*names), ws_host(suite_server)
        result = run_locust(files, host, tmp_path, users, seconds, extra=extra)
        assert result.returncode == 0, result.output
        return result

    return run


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """The real Pub/Sub emulator, one per test module; a missing gcloud fails the test."""
    running = Emulator()
    running.start()
    yield running
    running.close()


@pytest.fixture
def topic() -> str:
    """A Pub/Sub topic of this test's own, so tests never see each other's messages."""
    return f"wsh-relay-{secrets.token_hex(4)}"


def start_relay(emulator: Emulator, mode: str, topic: str) -> NodePeer:
    """``tests/peers/pubsub_relay.js`` in ``mode`` (``fanout``, ``shared``) on ``topic``."""
    check_installed("ws", "@google-cloud/pubsub", "express")
    return NodePeer("pubsub_relay.js", mode, topic, env=emulator.env).start()


@pytest.fixture
def fanout_relay(emulator: Emulator, topic: str) -> Iterator[NodePeer]:
    """A relay that sends every message on ``topic`` to every socket."""
    relay = start_relay(emulator, "fanout", topic)
    yield relay
    relay.stop()


@pytest.fixture
def shared_relay(emulator: Emulator, topic: str) -> Iterator[NodePeer]:
    """A relay whose sockets share one subscription: Pub/Sub splits the messages."""
    relay = start_relay(emulator, "shared", topic)
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def node_echo() -> Iterator[NodePeer]:
    """``tests/peers/ws_echo.js``: Node's ``ws`` echoing every frame on any path."""
    check_installed("ws")
    peer = NodePeer("ws_echo.js")
    yield peer.start()
    peer.stop()


@pytest.fixture(scope="module")
def socketio_room() -> Iterator[NodePeer]:
    """``tests/peers/socketio_room.js``: Socket.IO v4 broadcasting to rooms of ``/live``."""
    check_installed("socket.io", "express")
    peer = NodePeer("socketio_room.js")
    yield peer.start()
    peer.stop()
