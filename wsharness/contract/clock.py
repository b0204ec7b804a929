"""The one wall clock of the contract: milliseconds since the epoch.

``published_at`` and ``expires_at`` on the wire are in this unit, so a receiver's
``now_ms() - published_at`` is a delivery latency (on one machine, or with clocks in
sync).
"""

from __future__ import annotations

import time


def now_ms() -> float:
    """Now, in milliseconds since the epoch (fractional)."""
    return time.time() * 1000.0


def now_ms_int() -> int:
    """Now, in whole milliseconds since the epoch (the unit of ``published_at``)."""
    return int(time.time() * 1000)
