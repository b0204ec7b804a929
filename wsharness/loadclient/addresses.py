"""Local source addresses for outgoing sockets, spread over 127.0.0.x and the like.

One source address gives at most ~28,000 ephemeral ports per server address and
port, fewer while earlier sockets sit in TIME_WAIT.  ``--source-addresses`` takes a
comma-separated list and/or ranges (``127.0.0.1-127.0.0.20``); each process hands
them out round-robin, one per new socket.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterator


def parse_addresses(text: str) -> list[str]:
    """``"127.0.0.1-127.0.0.3,::1"`` -> every address, in order."""
    addresses: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        first, _, last = part.partition("-")
        start = ipaddress.ip_address(first.strip())
        end = ipaddress.ip_address(last.strip()) if last else start
        if end.version != start.version or int(end) < int(start):
            raise ValueError(f"bad address range {part!r}")
        addresses.extend(str(start + n) for n in range(int(end) - int(start) + 1))
    return addresses


class SourceAddresses:
    """Round-robin over the configured addresses (None when there are none)."""

    def __init__(self, text: str | None) -> None:
        self.addresses = parse_addresses(text) if text else []
        self._cycle: Iterator[str] | None = (
            itertools.cycle(self.addresses) if self.addresses else None
        )

    def next(self) -> str | None:
        return next(self._cycle) if self._cycle is not None else None
