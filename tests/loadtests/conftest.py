"""Fixtures for the Locust suite's tests: the real server in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
