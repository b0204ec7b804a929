"""A minimal receiving and publishing side for the peer tests (not Locust yet).

Sockets of the test's own client feed every text frame to :class:`Receivers`, which
finds the stamps (:mod:`wsharness.loadclient.stamp`), times them and books them into
one :class:`~wsharness.loadclient.completeness.SocketAccount` per socket;
:func:`publish_stamped` publishes numbered stamped payloads through any publish
function and records them in a :class:`~wsharness.loadclient.completeness.PublishLedger`.
Waiting is on an event set by arrivals, bounded by a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from wsharness.contract.clock import now_ms
from wsharness.loadclient.completeness import (
    Arrival,
    PublishLedger,
    RunCompleteness,
    SocketAccount,
    SocketCompleteness,
    assess,
    summarise,
)
from wsharness.loadclient.stamp import (
    Stamp,
    find_stamps,
    find_stamps_in_value,
    new_stamp,
    stamped_payload,
)

WAIT_S = 30.0


class Receivers:
    """The accounts and delivery latencies of a test's sockets."""

    def __init__(self) -> None:
        self.accounts: list[SocketAccount] = []
        self.latencies_ms: list[float] = []
        self.verdicts: dict[str, list[tuple[Arrival, int]]] = {}
        self.arrived = asyncio.Event()

    def subscribed(self, name: str) -> SocketAccount:
        """A socket is subscribed now: its account starts here."""
        account = SocketAccount(name, now_ms())
        self.accounts.append(account)
        self.verdicts[name] = []
        return account

    def take_text(self, account: SocketAccount, text: str) -> None:
        self._book(account, find_stamps(text))

    def take_value(self, account: SocketAccount, value: Any) -> None:
        self._book(account, find_stamps_in_value(value))

    def _book(self, account: SocketAccount, stamps: list[Stamp]) -> None:
        received_at = now_ms()
        for stamp in stamps:
            self.latencies_ms.append(received_at - stamp.published_at_ms)
            verdict = account.observe(stamp.stream, stamp.sequence, received_at)
            self.verdicts[account.socket_id].append(verdict)
        if stamps:
            self.arrived.set()

    def delivered(self) -> int:
        return sum(account.counts().delivered for account in self.accounts)

    async def wait_until(
        self, condition: Callable[[], bool], timeout: float = WAIT_S
    ) -> None:
        """Until ``condition()`` holds after an arrival; fails past ``timeout``."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"not reached in {timeout}s: {self.delivered()} delivered"
                )
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue

    def settle(self, grace_ms: float) -> dict[str, list[tuple[tuple[str, str], int]]]:
        """The gaps confirmed now on each socket (holes open for ``grace_ms``)."""
        now = now_ms()
        return {
            account.socket_id: account.settle(now, grace_ms) for account in self.accounts
        }

    def assess(
        self, ledger: PublishLedger, grace_ms: float
    ) -> tuple[list[SocketCompleteness], RunCompleteness]:
        until = now_ms()
        results = [assess(account, ledger, until, grace_ms) for account in self.accounts]
        return results, summarise(results)


def publish_stamped(
    publish: Callable[[dict[str, Any]], object],
    ledger: PublishLedger,
    publisher: str,
    sequences: range,
    interval_s: float = 0.01,
) -> None:
    """Publish one stamped payload per sequence number, ``interval_s`` apart."""
    for sequence in sequences:
        stamp = new_stamp(publisher, sequence)
        publish(stamped_payload(stamp, pad="x" * 64))
        ledger.record(stamp.stream, stamp.sequence, stamp.published_at_ms)
        time.sleep(interval_s)  # the publish rate, not a synchronisation
