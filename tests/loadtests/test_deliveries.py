"""Deliveries counted exactly in ``_deliveries.csv``; timings sampled above a bound."""

from __future__ import annotations

from tests.loadtests.conftest import SuiteRun
from wsharness.loadclient.delivery_report import CSV_COLUMNS


def test_below_the_bound_every_delivery_is_counted_and_timed(suite_run: SuiteRun) -> None:
    run = suite_run(
        "idle",
        "publisher",
        users=11,  # ten receivers, one publisher
        seconds=4,
        extra=("--publish-rate", "20"),
    )

    assert tuple(run.deliveries[0]) == CSV_COLUMNS
    total = run.last_deliveries()
    assert total == {**run.last_deliveries("local"), "Process": "total"}
    assert int(total["Delivered"]) == run.count("deliver") > 100
    assert int(total["Timed"]) == run.count("deliver")
    assert float(total["Sampling Ratio"]) == 1.0
    assert (total["Missing"], total["Duplicate"], total["Out Of Order"]) == ("0", "0", "0")


def test_above_the_bound_a_sample_is_timed_and_the_count_stays_exact(
    suite_run: SuiteRun,
) -> None:
    run = suite_run(
        "idle",
        "publisher",
        users=11,  # ten receivers, one publisher
        seconds=5,
        extra=("--publish-rate", "40", "--deliver-timings-per-second", "50"),
    )

    assert run.failures == []
    total = run.last_deliveries()
    delivered, timed = int(total["Delivered"]), int(total["Timed"])
    publishes = run.count("publish")
    assert delivered >= 10 * (publishes - 10)  # every receiver, all but the last in flight
    assert timed == run.count("deliver")  # what went to Locust is the sample
    assert timed < 0.7 * delivered  # all in the first second, then ~50 a second
    ratios = [float(row["Sampling Ratio"]) for row in run.deliveries]
    assert min(ratios) < 0.5 and max(ratios) == 1.0  # all timed before the rate was known
