"""Fixtures shared by every test: real servers on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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
