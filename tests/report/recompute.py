"""Independent recomputation of the report's figures from a run's raw CSV files.

Deliberately plain (``csv``, ``statistics``, no code from ``wsharness.report``), so a
mistake in the report's analysis cannot hide in a shared helper.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path


def server_series(run_dir: Path, series: str) -> dict[float, float]:
    with (run_dir / "server_metrics.csv").open() as handle:
        return {
            float(row["timestamp"]): float(row["value"])
            for row in csv.DictReader(handle)
            if row["series"] == series
        }


def expected_memory_slope(run_dir: Path) -> tuple[float, float]:
    """Slope and intercept of RSS on open sockets, from the start to the end of the peak."""
    sockets = server_series(run_dir, "wsh_open_connections")
    memory = server_series(run_dir, "wsh_process_memory_bytes")
    times = sorted(t for t in sockets if t in memory)
    highest = max(sockets.values())
    end_of_peak = max(t for t in times if sockets[t] == highest)
    used = [t for t in times if t <= end_of_peak]
    fit = statistics.linear_regression(
        [sockets[t] for t in used], [memory[t] for t in used]
    )
    return fit.slope, fit.intercept


def expected_windows(run_dir: Path, p99_limit: float) -> list[tuple[float, bool]]:
    """(mean open sockets, within objective) for each 10 s window of the run."""
    with (run_dir / "run_stats_history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    t0 = min(int(row["Timestamp"]) for row in rows)
    groups: dict[int, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(int(row["Timestamp"]) - t0) // 10].append(row)
    sockets = server_series(run_dir, "wsh_open_connections")
    seen = {"Aggregated": (0, 0), "deliver": (0, 0)}
    windows = []
    for key in sorted(groups):
        rows = groups[key]
        last = {row["Name"]: row for row in rows}  # rows are in time order
        total = last["Aggregated"]
        requests = int(total["Total Request Count"]) - seen["Aggregated"][0]
        failures = int(total["Total Failure Count"]) - seen["Aggregated"][1]
        seen["Aggregated"] = (
            int(total["Total Request Count"]),
            int(total["Total Failure Count"]),
        )
        p99 = None
        if (
            "deliver" in last
            and int(last["deliver"]["Total Request Count"]) > seen["deliver"][0]
        ):
            p99 = float(last["deliver"]["99%"])
            seen["deliver"] = (int(last["deliver"]["Total Request Count"]), 0)
        start, end = int(rows[0]["Timestamp"]), int(rows[-1]["Timestamp"])
        if end - start + 1 < 5:
            continue  # a trailing piece shorter than half a window
        inside = [v for t, v in sockets.items() if start <= t <= end]
        mean = sum(inside) / len(inside)
        errors_ok = failures <= 0.001 * max(requests, 1000)
        windows.append((mean, (p99 is None or p99 <= p99_limit) and errors_ok))
    return windows


def expected_knee(windows: list[tuple[float, bool]]) -> tuple[int, bool]:
    broken = [s for s, ok in windows if not ok]
    if not broken:
        return math.floor(max(s for s, _ in windows)), True
    first = min(broken)
    return math.floor(max((s for s, ok in windows if ok and s < first), default=0)), False


def expected_closes(run_dir: Path) -> dict[str, int]:
    """Increase of wsh_closes_total per code (series absent at the first scrape: from 0)."""
    with (run_dir / "server_metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    first_scrape = min(float(row["timestamp"]) for row in rows)
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for row in rows:
        if row["series"] == "wsh_closes_total":
            at_start = float(row["timestamp"]) == first_scrape
            first.setdefault(row["labels"], float(row["value"]) if at_start else 0.0)
            last[row["labels"]] = float(row["value"])
    totals: dict[str, int] = defaultdict(int)
    for labels, value in last.items():
        code = dict(pair.split("=") for pair in labels.split(";"))["code"]
        totals[code] += round(value - first[labels])
    return dict(totals)


def knee_mean(run_dir: Path, p99_limit: float) -> float:
    """The knee before rounding (the recommendation is taken from it)."""
    windows = expected_windows(run_dir, p99_limit)
    broken = [s for s, ok in windows if not ok]
    first = min(broken, default=math.inf)
    return max((s for s, ok in windows if ok and s < first), default=0.0)
