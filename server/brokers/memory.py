"""The embedded in-memory broker: one process, no cloud, the default."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from wsharness.contract.notification import Notification
from wsharness.server.brokers.base import Deliver


class MemoryBroker:
    """Delivers each publish to this instance's sockets on the next loop iteration.

    Ids are ``<boot>-<sequence>`` so an id from before a restart never matches a
    message published after it (a stale cursor is reported, not silently misread).
    """

    name = "memory"
    shared = False

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._boot = f"{int(time.time() * 1000):x}{os.getpid() % 256:02x}"
        self._sequence = 0

    @property
    def healthy(self) -> bool:
        return True

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(
        self, topic: str, data: Any, trace_context: dict[str, str] | None = None
    ) -> str:
        self._sequence += 1
        notification = Notification(
            topic=topic,
            id=f"{self._boot}-{self._sequence}",
            data=data,
            published_at=int(time.time() * 1000),
            trace_context=dict(trace_context or {}),
        )
        if self._deliver is not None:
            asyncio.get_running_loop().call_soon(self._deliver, notification)
        return notification.id

    async def stop(self) -> None:
        self._deliver = None
