"""Graceful drain on SIGTERM: not ready, 503 to newcomers, flush, 1001 in batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import open_socket, receive, subscribe
from tests.support.servers import ServerProcess, publish_http, token
from wsharness.contract.protocol import CloseCode
from wsharness.server.drain import batches


def test_batches_split_evenly_and_keep_everyone() -> None:
    groups = batches(list(range(10)), 4)
    assert [len(g) for g in groups] == [3, 3, 3, 1]
    assert [x for g in groups for x in g] == list(range(10))
    assert batches([], 4) == []


@pytest.fixture
def draining_server() -> Iterator[ServerProcess]:
    process = ServerProcess(WSH_DRAIN_SECONDS="2", WSH_DRAIN_BATCHES="4").start()
    yield process
    process.stop()


async def test_sigterm_drains_in_staggered_batches(draining_server: ServerProcess) -> None:
    sockets = [await open_socket(draining_server.ws_url, f"user{n}") for n in range(8)]
    for ws in sockets:
        await subscribe(ws, "news")
    publish_http(draining_server, "news", "last words")
    draining_server.terminate()
    await _wait_not_ready(draining_server)
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            draining_server.ws_url,
            additional_headers={"Authorization": f"Bearer {token()}"},
        )
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"]
    outcomes = await asyncio.gather(*(_last_message_and_close(ws) for ws in sockets))
    assert {data for data, _, _ in outcomes} == {"last words"}  # flushed before 1001
    assert {code for _, code, _ in outcomes} == {CloseCode.GOING_AWAY}
    close_times = sorted(at for _, _, at in outcomes)
    assert close_times[-1] - close_times[0] > 1.0  # four batches across a 2 s window
    assert draining_server.process is not None
    assert await asyncio.to_thread(draining_server.process.wait, 15) == 0


async def _last_message_and_close(ws: ClientConnection) -> tuple[str, int | None, float]:
    message = await receive(ws)
    await asyncio.wait_for(ws.wait_closed(), 10)
    return message["data"], ws.close_code, time.monotonic()


async def _wait_not_ready(process: ServerProcess) -> None:
    deadline = time.monotonic() + 5
    while (await asyncio.to_thread(process.readyz))[0] != 503:
        assert time.monotonic() < deadline, "readyz never failed after SIGTERM"
        await asyncio.sleep(0.02)
