"""The receive side of ``--protocol relay`` and ``socketio``, decided without I/O.

A frame from a server nobody here wrote is read for the harness's stamps
(:mod:`wsharness.loadclient.stamp`) by :func:`frame_stamps`, which remembers the last
few frames: in a fan-out every socket receives the very same bytes, so all but the
first cost a dictionary lookup.  A frame without the stamp's key costs one ``in`` on
its bytes.

:func:`judge` books one stamp in the socket's
:class:`~wsharness.loadclient.completeness.SocketAccount` and counts it in the
socket's and the process's :class:`~wsharness.loadclient.deliveries.DeliveryCounts`
the way the ``wsharness`` protocol counts its messages (delivered, missing,
duplicate, out of order), so ``_deliveries.csv`` reads the same whatever the server.
A skip counts its numbers as missing at once (they leave ``missing`` if they arrive
late); it becomes a *gap* failure only when the book confirms it a grace period later
(:meth:`wsharness.loadclient.book.Book.settle`).
"""

from __future__ import annotations

from wsharness.loadclient.completeness import Arrival, SocketAccount
from wsharness.loadclient.deliveries import DeliveryCounts, ProcessDeliveries
from wsharness.loadclient.sequence import Verdict
from wsharness.loadclient.stamp import STAMP_KEY, Stamp, StampPath, find_stamps

_KEY = STAMP_KEY.encode()
_NONE: list[Stamp] = []  # shared, never changed
_CACHE_SIZE = 256
_cached: dict[tuple[bytes, StampPath | None], list[Stamp]] = {}

_VERDICTS = {
    Arrival.FIRST: Verdict.FIRST,
    Arrival.GAP: Verdict.GAP,
    Arrival.LATE: Verdict.OUT_OF_ORDER,
    Arrival.DUPLICATE: Verdict.DUPLICATE,
}


def frame_stamps(payload: bytes, path: StampPath | None = None) -> list[Stamp]:
    """The stamps in one text frame's payload (usually none or one); do not change it."""
    if _KEY not in payload:
        return _NONE
    key = (payload, path)
    stamps = _cached.get(key)
    if stamps is None:
        stamps = find_stamps(payload.decode("utf-8", "replace"), path)
        if len(_cached) >= _CACHE_SIZE:
            _cached.clear()
        _cached[key] = stamps
    return stamps


def judge(
    account: SocketAccount,
    stamp: Stamp,
    at_ms: float,
    counts: DeliveryCounts,
    process: ProcessDeliveries,
) -> Arrival:
    """Book ``stamp`` arriving at ``at_ms`` and count it; what the arrival was."""
    arrival, skipped = account.observe(stamp.stream, stamp.sequence, at_ms)
    if arrival is Arrival.IN_ORDER:  # the common case: two additions
        counts.delivered += 1
        process.counts.delivered += 1
        return arrival
    if arrival is Arrival.LATE and _below_baseline(account, stamp):
        for counted in (counts, process.counts):  # it was never counted missing
            counted.delivered += 1
            counted.out_of_order += 1
        return arrival
    verdict = _VERDICTS[arrival]
    missing = -1 if arrival is Arrival.LATE else skipped
    counts.count(verdict, missing)
    process.counts.count(verdict, missing)
    return arrival


def _below_baseline(account: SocketAccount, stamp: Stamp) -> bool:
    """A late number lower than the first one the socket saw (not in any skip)."""
    seen = account.received(stamp.stream)
    return seen is not None and seen.lowest == stamp.sequence
