"""Quantiles of the server's latency histograms over a time window (pure functions).

The sampler records cumulative ``<name>_bucket`` counters per ``le`` bound.  The
quantile of a window is taken from the increase of each bucket between the last scrape
before the window and the last scrape inside it, interpolated linearly within the
bucket the way Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from wsharness.sampler import Sample

Buckets = dict[float, float]  # upper bound (le) -> cumulative count


class BucketTimeline:
    """Cumulative bucket counts of one histogram per scrape time (summed over labels)."""

    def __init__(self, samples: Iterable[Sample], bucket_series: str) -> None:
        by_time: dict[float, Buckets] = defaultdict(lambda: defaultdict(float))
        for sample in samples:
            if sample.series == bucket_series:
                bound = float(dict(sample.labels).get("le", "+Inf"))
                by_time[sample.timestamp][bound] += sample.value
        self.times = sorted(by_time)
        self.counts = [dict(by_time[t]) for t in self.times]

    def at_or_before(self, moment: float) -> Buckets:
        index = bisect.bisect_right(self.times, moment) - 1
        return self.counts[index] if index >= 0 else {}

    def increase(self, start: float, end: float) -> Buckets:
        """Bucket increases from the last scrape before ``start`` to the last by ``end``."""
        before, after = self.at_or_before(start - 1e-9), self.at_or_before(end)
        return {bound: count - before.get(bound, 0.0) for bound, count in after.items()}


def histogram_quantile(quantile: float, buckets: Buckets) -> float | None:
    """The ``quantile`` (0..1) of cumulative ``buckets``; None when they are empty."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = quantile * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the last finite bound: report that bound
            share = (
                (rank - lower_count) / (count - lower_count) if count > lower_count else 1
            )
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def window_quantiles_ms(
    timeline: BucketTimeline, windows: Sequence[tuple[int, int]], quantile: float
) -> list[float | None]:
    """The quantile in milliseconds per (start, end) window of whole seconds."""
    results = []
    for start, end in windows:
        value = histogram_quantile(quantile, timeline.increase(start, end + 1))
        results.append(None if value is None else value * 1000)
    return results
