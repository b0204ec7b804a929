"""Server histogram quantiles per window, checked by hand."""

from __future__ import annotations

import math

import pytest

from wsharness.contract import names
from wsharness.report.histograms import BucketTimeline, histogram_quantile
from wsharness.sampler import Sample

LAG_BUCKETS = names.PROM_PUBLISH_LAG + "_bucket"


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    buckets = {0.01: 50.0, 0.05: 90.0, 0.1: 100.0, math.inf: 100.0}
    # rank 99 of 100 lies in (0.05, 0.1]: 9 of its 10 observations in -> 0.05 + 0.9 * 0.05
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.095)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.99, {0.01: 0.0, math.inf: 0.0}) is None
    assert histogram_quantile(0.99, {0.01: 1.0, math.inf: 10.0}) == 0.01, "+Inf: last bound"


def test_a_window_counts_only_its_own_observations() -> None:
    def scrape(t: float, fast: float, total: float) -> list[Sample]:
        return [
            Sample(t, LAG_BUCKETS, (("le", "0.01"),), fast),
            Sample(t, LAG_BUCKETS, (("le", "+Inf"),), total),
        ]

    timeline = BucketTimeline([*scrape(1, 100, 100), *scrape(11, 100, 200)], LAG_BUCKETS)
    assert timeline.increase(2, 12) == {0.01: 0.0, math.inf: 100.0}
    assert timeline.increase(0, 2) == {0.01: 100.0, math.inf: 100.0}
