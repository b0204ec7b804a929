"""Jaeger search links to the slowest traced operations of a run (pure, no network).

For each request name, slowest first (by its maximum response time), a link searches
the client span ``ws.client.<name>`` in the load generator's service within the run's
time range; ``minDuration`` is the request's whole-run p99, so the search lists the
slowest 1%.  The client span's ``traceparent`` rides the upgrade and the published
notification, so each trace found continues into the server's handshake, receive and
fan-out spans: one link per operation is enough to follow a slow one end to end.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from wsharness.contract import names
from wsharness.report.inputs import AGGREGATED, StatsRow

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class JaegerTarget:
    """Where the traces are and which services emitted them."""

    url: str
    client_service: str = "wsharness-locust"


@dataclass(frozen=True)
class JaegerLink:
    name: str
    service: str
    operation: str
    min_duration_ms: int
    max_ms: float
    url: str


def search_url(
    target: JaegerTarget, service: str, operation: str, min_ms: int, start: int, end: int
) -> str:
    """A Jaeger UI search for ``operation`` slower than ``min_ms`` in [start, end] (s)."""
    query = urllib.parse.urlencode(
        {
            "service": service,
            "operation": operation,
            "minDuration": f"{min_ms}ms",
            "start": start * 1_000_000,
            "end": (end + 1) * 1_000_000,
            "limit": SEARCH_LIMIT,
            "lookback": "custom",
        }
    )
    return f"{target.url.rstrip('/')}/search?{query}"


def jaeger_links(
    stats: Iterable[StatsRow], start: int, end: int, target: JaegerTarget
) -> list[JaegerLink]:
    links = []
    timed = [row for row in stats if row.name != AGGREGATED and row.requests]
    for row in sorted(timed, key=lambda r: r.max_ms, reverse=True):
        min_ms = max(1, math.floor(row.p99_ms or row.max_ms))
        service, operation = target.client_service, names.SPAN_CLIENT_PREFIX + row.name
        url = search_url(target, service, operation, min_ms, start, end)
        links.append(JaegerLink(row.name, service, operation, min_ms, row.max_ms, url))
    return links
