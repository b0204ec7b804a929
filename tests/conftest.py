"""Fixtures shared by every test: real servers on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

# The test process hosts asyncio servers and gRPC clients (Pub/Sub); Locust, imported
# by the load client's modules, would monkey-patch threads and sockets into gevent on
# import and gRPC's threads would then block the whole process.  Locust itself always
# runs in subprocesses, which must patch: so skip it only for this import.
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
import locust  # noqa: F401

del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

import pytest

from tests.support.servers import RunningServer, start_server


@pytest.fixture
async def make_server() -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """Start in-process servers with setting overrides; all stopped at teardown."""
    started: list[RunningServer] = []

    async def make(**overrides: Any) -> RunningServer:
        running = await start_server(**overrides)
        started.append(running)
        return running

    yield make
    for running in started:
        await running.runner.cleanup()


@pytest.fixture
async def server(make_server: Callable[..., Awaitable[RunningServer]]) -> RunningServer:
    return await make_server()
