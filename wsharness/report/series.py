"""Reading the server's scraped series over a span of time (pure functions).

Counters are summed over their label sets per scrape; a counter not yet shown at a
scrape (label sets appear at their first increment) counts as 0 there.  A rate over
a span is the increase from the first to the last scrape inside it, divided by the
time between those two scrapes.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence

from wsharness.sampler import Sample

Timeline = list[tuple[float, float]]


def series_total(samples: Iterable[Sample], series: str) -> Timeline:
    """``series`` summed over its label sets, per timestamp, in time order."""
    totals: dict[float, float] = defaultdict(float)
    for sample in samples:
        if sample.series == series:
            totals[sample.timestamp] += sample.value
    return sorted(totals.items())


def counter_timeline(
    samples: Sequence[Sample], series: str, labels: dict[str, str] | None = None
) -> Timeline:
    """A counter (summed over matching label sets) at every scrape, 0 before it appears."""
    wanted = labels or {}
    scrapes = sorted({sample.timestamp for sample in samples})
    totals: dict[float, float] = dict.fromkeys(scrapes, 0.0)
    for sample in samples:
        if sample.series != series:
            continue
        present = dict(sample.labels)
        if all(present.get(key) == value for key, value in wanted.items()):
            totals[sample.timestamp] += sample.value
    return sorted(totals.items())


def rate_over(timeline: Timeline, start: float, end: float) -> float | None:
    """Increase per second between the first and last point in [start, end]."""
    inside = [(t, v) for t, v in timeline if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    (t0, v0), (t1, v1) = inside[0], inside[-1]
    return max(v1 - v0, 0.0) / (t1 - t0)


def mean_over(timeline: Timeline, start: float, end: float) -> float | None:
    """Mean of the points in [start, end]; None when there are none."""
    inside = [value for t, value in timeline if start <= t <= end]
    return statistics.fmean(inside) if inside else None


def value_at(timeline: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Mean of the timeline within [start, end], else the nearest point."""
    inside = mean_over(list(timeline), start, end)
    if inside is not None:
        return inside
    middle = (start + end) / 2
    return min(timeline, key=lambda point: abs(point[0] - middle))[1]
