"""Jaeger search links built from the slowest requests (no live Jaeger needed)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from wsharness.report.inputs import StatsRow
from wsharness.report.jaeger import JaegerTarget, jaeger_links


def stats(name: str, max_ms: float, p99_ms: float | None, requests: int = 10) -> StatsRow:
    return StatsRow("WS", name, requests, 0, 1.0, max_ms, 1.0, p99_ms)


def test_links_go_slowest_first_with_the_p99_as_minimum_duration() -> None:
    rows = [
        stats("echo", 80, 12.7),
        stats("deliver", 900, 250.2),
        stats("refresh", 5, None),
        stats("idle", 0, None, requests=0),  # nothing timed: no link
        stats("Aggregated", 900, 250),
    ]
    target = JaegerTarget("http://127.0.0.1:16686/", "wsharness-locust")
    links = jaeger_links(rows, 1_700_000_000, 1_700_000_060, target)

    assert [link.name for link in links] == ["deliver", "echo", "refresh"]
    query = parse_qs(urlsplit(links[0].url).query)
    assert urlsplit(links[0].url).path == "/search"
    assert query == {
        "service": ["wsharness-locust"],
        "operation": ["ws.client.deliver"],
        "minDuration": ["250ms"],
        "start": ["1700000000000000"],
        "end": ["1700000061000000"],
        "limit": ["20"],
        "lookback": ["custom"],
    }
    assert links[1].min_duration_ms == 12
    assert links[2].min_duration_ms == 5, "no p99: the slowest seen"
