"""Keep sub-millisecond response times in Locust's statistics.

Locust buckets every response time for its median and percentiles, rounding
anything under 100 ms to a whole millisecond, and its CSV writer truncates the
percentiles to integers.  A loopback echo takes a fraction of a millisecond, so
both would report ``0``.  :func:`keep_sub_millisecond_precision` swaps in the
documented replaceable ``locust.stats.bucket_response_time`` with one that keeps
two significant digits below 100 ms (the same precision Locust keeps above it), and
lets the CSV percentile columns carry those values as decimals.  Averages, minima
and maxima are exact floats in Locust already.  The console's tables (the stats
printed while running and the summary at the end) print every time with ``%d``;
they get the same two significant digits below 100 ms (``1.7``, not ``1``).
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


def console_ms(value: float | int | None) -> str:
    """A time for the console tables: two significant digits below 100 ms, else whole."""
    number = float(value or 0)
    if number >= _FINE_LIMIT_MS or number <= 0:
        return str(round(number))
    return f"{fine_bucket(number):g}"


def _console_row(self: stats.StatsEntry, current: bool = True) -> str:
    """Locust's ``StatsEntry.to_string`` with :func:`console_ms` times."""
    rps = self.current_rps if current else self.total_rps
    fails = self.current_fail_per_sec if current else self.total_fail_per_sec
    width = (stats.STATS_NAME_WIDTH - stats.STATS_TYPE_WIDTH) + 4
    template = (
        f"%-{stats.STATS_TYPE_WIDTH}s %-{width}s %7d %12s |%7s %7s %7s%7s | %7.2f %11.2f"
    )
    return template % (
        (self.method and self.method + " ") or "",
        self.name,
        self.num_requests,
        f"{self.num_failures}({self.fail_ratio * 100:.2f}%)",
        console_ms(self.avg_response_time),
        console_ms(self.min_response_time),
        console_ms(self.max_response_time),
        console_ms(self.median_response_time),
        rps or 0,
        fails or 0,
    )


def _console_percentiles(self: stats.StatsEntry) -> str:
    """Locust's ``StatsEntry.percentile`` with :func:`console_ms` times."""
    if not self.num_requests:
        raise ValueError("Can't calculate percentile on url with no successful requests")
    cells = " ".join(["%8s"] + ["%6s"] * (len(stats.PERCENTILES_TO_REPORT) - 1))
    template = f"%-{stats.STATS_TYPE_WIDTH}s %-{stats.STATS_NAME_WIDTH}s {cells} %6d"
    percentile = self.get_response_time_percentile
    times = (console_ms(percentile(p)) for p in stats.PERCENTILES_TO_REPORT)
    return template % (self.method or "", self.name, *times, self.num_requests)


def keep_sub_millisecond_precision() -> None:
    """Install the finer buckets, decimal CSV percentiles and console times (idempotent)."""
    stats.bucket_response_time = fine_bucket  # type: ignore[assignment]  # floats below 100
    stats.StatsCSV._percentile_fields = _float_percentile_fields  # type: ignore[method-assign,assignment]
    stats.StatsEntry.to_string = _console_row  # type: ignore[method-assign]
    stats.StatsEntry.percentile = _console_percentiles  # type: ignore[method-assign]
