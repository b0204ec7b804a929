"""Graceful drain: stop accepting, flush, and send 1001 in staggered batches.

Closing every socket at once makes every client reconnect at once; spreading the
closes over the drain window spreads the reconnect storm over the other instances.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Protocol, TypeVar

from wsharness.contract.protocol import CloseCode


class Closable(Protocol):
    def start_close(self, code: CloseCode, flush_first: bool = False) -> None: ...

    async def wait_closed(self) -> None: ...


Item = TypeVar("Item")


def batches(items: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """Split ``items`` into at most ``count`` batches of near-equal size."""
    if not items:
        return []
    size = math.ceil(len(items) / max(count, 1))
    return [items[start : start + size] for start in range(0, len(items), size)]


async def drain(
    connections: Sequence[Closable], window_seconds: float, batch_count: int
) -> None:
    """Close ``connections`` with 1001, batch by batch, across ``window_seconds``."""
    groups = batches(connections, batch_count)
    pause = window_seconds / max(len(groups), 1)
    for index, group in enumerate(groups):
        for connection in group:
            connection.start_close(CloseCode.GOING_AWAY, flush_first=True)
        if index < len(groups) - 1:
            await asyncio.sleep(pause)  # the stagger itself, not a synchronisation wait
    await asyncio.gather(*(c.wait_closed() for c in connections), return_exceptions=True)
