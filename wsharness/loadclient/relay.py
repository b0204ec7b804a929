"""Clients for servers this project did not write: stamps found in their frames, booked.

:class:`StampClient` is what ``--protocol relay`` and ``socketio`` share: after
subscribing, a socket opens its account in the process's book
(:mod:`wsharness.loadclient.book`); every stamp found in what it receives is judged
and counted (:func:`~wsharness.loadclient.stamped.judge`), timed as ``deliver``
through the process's sampler (``receive time - publish time``), and a duplicate or a
late number is a ``deliver`` failure at once.  A skip is a ``gap: missing sequence
number`` failure only once the book confirms it a grace period later.  At the close
the account's window ends; a reconnect opens a new account (no resume).

:class:`RelayClient` speaks to any server that relays backend notifications as text
frames: the upgrade is the whole handshake, ``--subscribe-frame`` (one per topic
when it holds ``{topic}``) is sent after it, and any text frame may carry stamps.
The frames are read by the process's shared reader
(:mod:`wsharness.loadclient.session`), in the gevent loop.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

from wsharness.contract.clock import now_ms
from wsharness.loadclient import report, tracing
from wsharness.loadclient.book import BOOK
from wsharness.loadclient.client import _SEND_ERRORS, ProtocolClient
from wsharness.loadclient.completeness import Arrival, SocketAccount, Stream
from wsharness.loadclient.protocols import subscribe_frames
from wsharness.loadclient.session import WsSession
from wsharness.loadclient.stamp import Stamp, parse_path
from wsharness.loadclient.stamped import frame_stamps, judge
from wsharness.loadclient.tracing import record_span

GAP = "gap: missing sequence number"
_accounts = itertools.count(1)


class StampClient(ProtocolClient):
    """A receiver whose messages carry the harness's stamps; see the module docstring."""

    __slots__ = ("account", "stamp_path", "user_class")

    def __init__(self, *args: object, user_class: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user_class = user_class
        self.account: SocketAccount | None = None
        self.stamp_path = parse_path(self.options.chosen.stamp_path)

    def subscribe(self, topics: Sequence[str], name: str) -> list[str] | None:
        """Join ``topics`` (whatever the protocol sends for it); the account starts."""
        if not topics:
            return []  # a publisher's socket: it books nothing
        account = BOOK.open_account(
            f"{self.sub}/{next(_accounts)}", now_ms(), topics, self.user_class
        )
        self.account = account
        try:
            self._join(topics)
        except _SEND_ERRORS:
            return None  # the socket is gone; its close is reported
        account.subscribed_at_ms = now_ms()
        return []

    def _join(self, topics: Sequence[str]) -> None:
        """Send what joins ``topics`` (nothing by default)."""

    # --- incoming, in the gevent loop -------------------------------------------------

    def _on_stamps(self, stamps: list[Stamp], length: int) -> None:
        account = self.account
        if account is None:
            return
        at = now_ms()
        counts, process = self.conversation.counts, self.conversation.process
        for stamp in stamps:
            arrival = judge(account, stamp, at, counts, process)
            if arrival is Arrival.DUPLICATE:
                self.reporter.failure(report.DELIVER, None, report.Duplicate())
                continue
            if arrival is Arrival.LATE:
                self.reporter.failure(report.DELIVER, None, report.OutOfOrder())
            elif arrival is Arrival.GAP:
                BOOK.watch(account, self._on_gap)
            if process.sampler.take():
                lag = max(0.0, at - stamp.published_at_ms)
                self.reporter.success(report.DELIVER, lag, length)
                if tracing.tracing_enabled():
                    record_span(report.DELIVER, lag)

    def _on_gap(
        self, _account: SocketAccount, _stream: Stream, _missing: int, first: bool
    ) -> None:
        """The book confirmed a skip of ``account``: one gap failure."""
        if first:
            self.conversation.process.sockets_with_gaps += 1
        self.reporter.failure(report.DELIVER, None, report.Gap(GAP))

    def _on_close(self, session: WsSession) -> None:
        account, self.account = self.account, None
        if account is not None:
            account.close(now_ms())
        super()._on_close(session)


class RelayClient(StampClient):
    """``--protocol relay``: any server relaying backend notifications as text frames."""

    __slots__ = ()

    def connect(self) -> bool:
        """The upgrade is the handshake; reports ``connect``."""
        started = time.perf_counter()
        if not self._open(started, self._on_relay_text):
            return False
        self.reporter.success(report.CONNECT, report.elapsed_ms(started))
        return True

    def _join(self, topics: Sequence[str]) -> None:
        for frame in subscribe_frames(self.options.chosen.subscribe_frame, topics):
            self.send(frame)

    def _on_relay_text(self, payload: bytes) -> None:
        stamps = frame_stamps(payload, self.stamp_path)
        if stamps:
            self._on_stamps(stamps, len(payload))
