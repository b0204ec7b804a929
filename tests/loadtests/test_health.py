"""Generator health: every process's CPU and loop lag in ``_generators.csv``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.loadtests.conftest import SuiteRun
from wsharness.loadclient.health import CSV_COLUMNS, HealthLog, HealthSampler, Sample

GENERATOR_COLUMNS = ("time", "process", "cpu_percent", "loop_lag_ms", "sockets",
                     "deliveries_per_s")  # fmt: skip


def test_columns_are_the_ones_the_capacity_report_reads() -> None:
    assert CSV_COLUMNS == GENERATOR_COLUMNS


def test_the_master_records_itself_and_each_worker(suite_run: SuiteRun) -> None:
    run = suite_run(
        "idle",
        "publisher",
        users=6,
        seconds=7,
        extra=("--processes", "2", "--publish-rate", "10"),
    )

    assert tuple(run.generators[0]) == GENERATOR_COLUMNS
    by_process: dict[str, list[dict[str, str]]] = {}
    for row in run.generators:
        by_process.setdefault(row["process"], []).append(row)
    assert "master" in by_process
    workers = [name for name in by_process if name != "master"]
    assert len(workers) == 2, by_process.keys()
    for name in workers:
        rows = by_process[name]
        assert len(rows) >= 3  # one a second, sent with the stats reports
        assert max(int(row["sockets"]) for row in rows) == 3
        assert max(float(row["deliveries_per_s"]) for row in rows) > 0
        assert all(0 <= float(row["cpu_percent"]) <= 200 for row in rows)
        assert all(float(row["loop_lag_ms"]) >= 0 for row in rows)
    worker_rows = [r for r in run.deliveries if r["Process"] in workers]
    assert {row["Process"] for row in worker_rows} == set(workers)


def test_a_sample_a_second_with_the_cpu_share_and_the_worst_lag() -> None:
    wall = iter([0.0, 0.5, 1.0])
    cpu = iter([0.0, 0.8])
    sampler = HealthSampler("p", clock=lambda: next(wall), cpu_clock=lambda: next(cpu))
    assert sampler.tick(0.13, 0.1) is None  # 30 ms late, half a second in
    sample = sampler.tick(0.1, 0.1)
    assert sample is not None
    assert (sample.process, sample.cpu_percent) == ("p", 80.0)
    assert sample.loop_lag_ms == pytest.approx(30.0)


def test_an_overloaded_process_is_warned_about_once_until_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = HealthLog(str(tmp_path / "run_generators.csv"))
    busy = Sample(1.0, "w1", 95.0, 3.0, 10, 100.0)
    lagging = Sample(2.0, "w1", 20.0, 80.0, 10, 100.0)
    calm = Sample(3.0, "w1", 20.0, 3.0, 10, 100.0)
    with caplog.at_level(logging.WARNING):
        for sample in (busy, lagging, calm, lagging):
            log.record(sample)
    log.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "w1" in warnings[0] and "CPU 95%" in warnings[0]
    rows = (tmp_path / "run_generators.csv").read_text().splitlines()
    assert len(rows) == 5
