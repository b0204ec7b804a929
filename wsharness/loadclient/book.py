"""The process's book of completeness: every socket's account, every publish, the verdicts.

With ``--protocol relay`` or ``socketio`` each receiving socket keeps a
:class:`~wsharness.loadclient.completeness.SocketAccount` from its subscription to
its close (a reconnect opens a new one), and each publisher records its publishes in
the process's :class:`~wsharness.loadclient.completeness.PublishLedger`.  The
:data:`BOOK` holds them all, and:

- confirms the skips that are still open one grace period later (:meth:`Book.settle`,
  once a second): each confirmed one is reported as a ``deliver`` gap by the socket
  it belongs to;
- assesses the run so far (:meth:`Book.assess`), which fills the completeness
  columns of ``<prefix>_deliveries.csv``;
- hands over what other processes need: the publishes not yet sent
  (:meth:`Book.take_unsent`, so every process learns every publisher's messages),
  and at the end its accounts and its own publishes (:meth:`Book.final_report`), from
  which the master assesses the whole run (:func:`assess_reports`).

:attr:`Book.final` (after the stop) or :attr:`Book.live` is the run's figure as this
process knows it; :func:`wsharness.loadclient.deliveries.run_completeness` reads it.
Pure: every time is passed in (ms since the epoch), nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from wsharness.loadclient.completeness import (
    DEFAULT_GRACE_MS,
    PublishLedger,
    RunCompleteness,
    SocketAccount,
    SocketCompleteness,
    Stream,
    assess,
    summarise,
)

GapListener = Callable[[SocketAccount, Stream, int, bool], None]
"""Called for each confirmed gap: the account, its stream, how many numbers missing,
and whether it is the account's first gap."""


@dataclass(frozen=True, slots=True)
class SocketVerdict:
    """One socket's completeness with where it ran (for ``_completeness.csv``)."""

    result: SocketCompleteness
    user_class: str
    process: str
    subscribed_at_ms: float
    closed_at_ms: float | None


class Book:
    """This process's accounts and publishes (one per process: :data:`BOOK`)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, grace_ms: float = DEFAULT_GRACE_MS) -> None:
        """Start over (a new test): nothing received, nothing published."""
        self.grace_ms = grace_ms
        self.accounts: list[tuple[SocketAccount, str]] = []  # (account, user class)
        self.ledger = PublishLedger()  # every publish this process knows of
        self.own = PublishLedger()  # the publishes of this process's publishers
        self._unsent: list[list[Any]] = []
        self._unsettled: dict[int, tuple[SocketAccount, GapListener]] = {}
        self.live: RunCompleteness | None = None
        self.final: RunCompleteness | None = None
        self.final_by_process: dict[str, RunCompleteness] = {}
        self.final_sockets: list[SocketVerdict] = []

    @property
    def in_use(self) -> bool:
        """Whether anything was received or published through the book."""
        return bool(self.accounts) or bool(self.ledger.streams)

    # --- receiving --------------------------------------------------------------------

    def open_account(
        self, socket_id: str, at_ms: float, topics: Iterable[str], user_class: str
    ) -> SocketAccount:
        """A socket subscribed at ``at_ms``: its account starts."""
        account = SocketAccount(socket_id, at_ms, topics)
        self.accounts.append((account, user_class))
        return account

    def watch(self, account: SocketAccount, on_gap: GapListener) -> None:
        """``account`` skipped numbers: confirm them on the next :meth:`settle` calls."""
        self._unsettled[id(account)] = (account, on_gap)

    def settle(self, now_ms: float, grace_ms: float | None = None) -> int:
        """Confirm the skips open for the grace period; the number of gaps confirmed."""
        grace = self.grace_ms if grace_ms is None else grace_ms
        confirmed = 0
        for key, (account, on_gap) in list(self._unsettled.items()):
            first = account.gaps == 0
            for stream, missing in account.settle(now_ms, grace):
                confirmed += 1
                on_gap(account, stream, missing, first)
                first = False
            if not account.unsettled:
                del self._unsettled[key]
        return confirmed

    # --- publishing -------------------------------------------------------------------

    def published(self, stream: Stream, sequence: int, at_ms: float) -> None:
        """A publish of this process that may have reached the server."""
        self.ledger.record(stream, sequence, at_ms)
        self.own.record(stream, sequence, at_ms)
        self._unsent.append([stream[0], stream[1], sequence, at_ms])

    def take_unsent(self) -> list[list[Any]]:
        """This process's publishes since the last call: [topic, publisher, seq, at]."""
        unsent, self._unsent = self._unsent, []
        return unsent

    def learn(self, publishes: Iterable[list[Any]]) -> None:
        """Publishes of other processes (what :meth:`take_unsent` gave there)."""
        for topic, publisher, sequence, at_ms in publishes:
            self.ledger.record((topic, publisher), int(sequence), float(at_ms))

    # --- verdicts ---------------------------------------------------------------------

    def assess(self, until_ms: float) -> RunCompleteness:
        """This process's sockets against every publish known, at ``until_ms``."""
        grace = self.grace_ms
        results = [assess(a, self.ledger, until_ms, grace) for a, _ in self.accounts]
        self.live = summarise(results)
        return self.live

    def final_report(self, taken_at_ms: float) -> dict[str, Any]:
        """What a worker sends the master at the end: accounts and its own publishes."""
        return {
            "taken_at": taken_at_ms,
            "accounts": [[a.to_wire(), user_class] for a, user_class in self.accounts],
            "ledger": self.own.to_wire(),
        }

    def conclude(
        self, reports: dict[str, dict[str, Any]], until_ms: float
    ) -> RunCompleteness:
        """The run's final verdict from every process's :meth:`final_report`."""
        final, by_process, sockets = assess_reports(reports, until_ms, self.grace_ms)
        self.final, self.final_by_process, self.final_sockets = final, by_process, sockets
        return final


def assess_reports(
    reports: dict[str, dict[str, Any]], until_ms: float, grace_ms: float
) -> tuple[RunCompleteness, dict[str, RunCompleteness], list[SocketVerdict]]:
    """Every process's sockets against every process's publishes.

    A process's sockets are assessed until its report was taken (or ``until_ms``, if
    earlier): what it received after that is not in the report, so nothing published
    later is expected of it.
    """
    ledger = PublishLedger()
    for report in reports.values():
        ledger.merge_wire(report["ledger"])
    by_process: dict[str, RunCompleteness] = {}
    sockets: list[SocketVerdict] = []
    for process, report in sorted(reports.items()):
        until = min(until_ms, float(report["taken_at"]))
        results = []
        for wire, user_class in report["accounts"]:
            account = SocketAccount.from_wire(wire)
            result = assess(account, ledger, until, grace_ms)
            results.append(result)
            sockets.append(
                SocketVerdict(
                    result,
                    user_class,
                    process,
                    account.subscribed_at_ms,
                    account.closed_at_ms,
                )
            )
        by_process[process] = summarise(results)
    return summarise(v.result for v in sockets), by_process, sockets


BOOK = Book()
