"""``wsharness report``: figures recomputed independently from the recorded run.

Each expected figure is computed in ``recompute.py`` from the raw CSV files with a
plain, separate computation (``csv`` + ``statistics.linear_regression``), then compared
with ``report.json``.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.report.recompute import (
    expected_closes,
    expected_knee,
    expected_memory_slope,
    expected_windows,
    knee_mean,
)
from wsharness.cli import main

PEAK = 50_000


def run_report(run_dir: Path, *flags: str) -> dict[str, Any]:
    assert main(["report", str(run_dir), *flags]) == 0
    return json.loads((run_dir / "report.json").read_text())


def test_memory_per_socket_is_the_least_squares_slope(run_dir: Path) -> None:
    report = run_report(run_dir)
    slope, intercept = expected_memory_slope(run_dir)
    assert report["memory_per_socket_bytes"] == pytest.approx(slope, abs=0.1)
    assert report["memory_baseline_bytes"] == pytest.approx(intercept, abs=1)
    assert 1_000 < slope < 500_000, "bytes per socket implausible for an aiohttp server"


def test_objective_never_broken_gives_a_flagged_lower_bound(run_dir: Path) -> None:
    report = run_report(run_dir, "--peak", str(PEAK))
    knee, lower_bound = expected_knee(expected_windows(run_dir, 250))
    assert lower_bound
    assert report["max_sockets_within_slo"] == knee
    assert report["max_sockets_within_slo_is_lower_bound"] is True
    recommended = math.floor(knee_mean(run_dir, 250) * 0.7)
    assert report["recommended_connections_per_instance"] == recommended
    assert report["instances_for_peak"] == math.ceil(PEAK / recommended)
    assert "lower bound" in (run_dir / "report.md").read_text()


def test_a_tighter_objective_finds_the_knee_and_recommends_below_it(run_dir: Path) -> None:
    report = run_report(
        run_dir, "--slo-p99-ms", "40", "--peak", str(PEAK), "--headroom", "0.25"
    )
    windows = expected_windows(run_dir, 40)
    knee, lower_bound = expected_knee(windows)
    assert not lower_bound, "the recorded run's p99 deliver passes 40 ms at full load"
    assert 0 < knee < max(s for s, _ in windows)
    assert report["max_sockets_within_slo"] == knee
    assert report["max_sockets_within_slo_is_lower_bound"] is False
    assert report["objective"]["p99_ms"] == 40
    recommended = math.floor(knee_mean(run_dir, 40) * 0.75)
    assert report["recommended_connections_per_instance"] == recommended
    assert report["instances_for_peak"] == math.ceil(PEAK / recommended)


def test_a_small_instance_is_bounded_by_memory(run_dir: Path) -> None:
    report = run_report(run_dir, "--instance-memory-mib", "70")
    slope, intercept = expected_memory_slope(run_dir)
    memory_bound = (70 * 2**20 * 0.8 - intercept) / slope  # 80% target utilisation
    assert memory_bound < knee_mean(run_dir, 250)
    assert report["recommendation_limited_by"] == "memory"
    assert report["memory_bound_sockets"] == math.floor(memory_bound)
    assert report["recommended_connections_per_instance"] == math.floor(memory_bound * 0.7)


def test_an_objective_broken_at_the_lowest_load_recommends_nothing(run_dir: Path) -> None:
    report = run_report(run_dir, "--slo-p99-ms", "1", "--peak", "100")
    assert report["max_sockets_within_slo"] == 0
    assert report["recommended_connections_per_instance"] == 0
    assert report["instances_for_peak"] is None
    summary = (run_dir / "report.md").read_text()
    assert "lowest load" in summary
    assert "the load generator may be the bottleneck" in summary, "server CPU stayed low"


def test_run_totals_closes_and_jaeger_links(run_dir: Path) -> None:
    report = run_report(run_dir, "--jaeger-url", "http://127.0.0.1:16686")
    with (run_dir / "run_stats.csv").open() as handle:
        stats = {row["Name"]: row for row in csv.DictReader(handle)}
    assert report["inputs"]["requests"] == int(stats["Aggregated"]["Request Count"])
    assert report["inputs"]["failures"] == int(stats["Aggregated"]["Failure Count"])
    assert report["closes_by_code"] == expected_closes(run_dir)
    assert set(expected_closes(run_dir)) >= {"1000", "1006", "4001"}, "drops and expiry"
    slowest = max((row for n, row in stats.items() if n != "Aggregated"),
                  key=lambda row: float(row["Max Response Time"]))  # fmt: skip
    first = report["jaeger_links"][0]
    assert first["operation"] == f"ws.client.{slowest['Name']}"
    assert f"minDuration={math.floor(float(slowest['99%']))}ms" in first["url"]
    assert first["url"].startswith("http://127.0.0.1:16686/search?service=wsharness-locust")


def test_the_console_script_prints_the_figures_and_where_the_report_is(
    run_dir: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsharness.cli", "report", str(run_dir), "--peak", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"report: {run_dir / 'report.html'}" in result.stdout
    for name in ("report.html", "report.md", "report.json"):
        assert (run_dir / name).stat().st_size > 0
