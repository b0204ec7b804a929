"""Keep sub-millisecond response times in Locust's statistics.

Locust buckets every response time for its median and percentiles, rounding
anything under 100 ms to a whole millisecond, and its CSV writer truncates the
percentiles to integers.  A loopback echo takes a fraction of a millisecond, so
both would report ``0``.  :func:`keep_sub_millisecond_precision` swaps in the
documented replaceable ``locust.stats.bucket_response_time`` with one that keeps
two significant digits below 100 ms (the same precision Locust keeps above it), and
lets the CSV percentile columns carry those values as decimals.  Averages, minima
and maxima are exact floats in Locust already.
"""

from __future__ import annotations

import math

from locust import stats

_ORIGINAL_BUCKET = stats.bucket_response_time
_FINE_LIMIT_MS = 100


def fine_bucket(response_time: float) -> float | int:
    """Round to two significant digits under 100 ms; Locust's own buckets above."""
    if response_time >= _FINE_LIMIT_MS:
        return _ORIGINAL_BUCKET(response_time)
    if response_time <= 0:
        return 0
    digits = 1 - math.floor(math.log10(response_time))
    return round(response_time, digits)


def compact(value: float | int | None) -> float | int:
    """A percentile as a CSV cell: whole numbers stay integers."""
    number = value or 0
    return int(number) if float(number).is_integer() else number


def _float_percentile_fields(
    self: stats.StatsCSV, stats_entry: stats.StatsEntry, use_current: bool = False
) -> list[str] | list[float | int]:
    if not stats_entry.num_requests:
        return self.percentiles_na
    if use_current and stats_entry.use_response_times_cache:
        percentile = stats_entry.get_current_response_time_percentile
    else:
        percentile = stats_entry.get_response_time_percentile
    return [compact(percentile(p)) for p in self.percentiles_to_report]


def keep_sub_millisecond_precision() -> None:
    """Install the finer buckets and decimal CSV percentiles (idempotent)."""
    stats.bucket_response_time = fine_bucket  # type: ignore[assignment]
    stats.StatsCSV._percentile_fields = _float_percentile_fields  # type: ignore[method-assign,assignment]
