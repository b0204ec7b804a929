"""``wsharness report RUN --baseline OLD_RUN``: regressions flagged, noise left alone.

The runs are real (``tests/fixtures/compare_runs/``, recorded by
``tests/report/record_compare_runs.py``): ``baseline`` and ``same_build`` are the same
server under the same load, ``slowed`` the same load on a server started with the
test-only ``WSH_TEST_DELIVERY_COST_US`` (CPU spent per socket delivered to).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from wsharness.cli import main
from wsharness.report import compare
from wsharness.report.analysis import Objective
from wsharness.report.gate import EXIT_CODE_REGRESSION

RECORDED = Path(__file__).parents[1] / "fixtures" / "compare_runs"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Writable copies of the three recorded runs, the baseline's report built."""
    copy = tmp_path / "runs"
    shutil.copytree(RECORDED, copy)
    assert main(["report", str(copy / "baseline")]) == 0
    return copy


def report(run: Path, *flags: str) -> tuple[int, dict[str, Any]]:
    code = main(["report", str(run), *flags])
    return code, json.loads((run / "report.json").read_text())


def figures(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {figure["name"]: figure for figure in document["comparison"]["figures"]}


def test_a_server_slowed_per_delivery_is_flagged_and_fails_the_gate(runs: Path) -> None:
    code, document = report(
        runs / "slowed", "--baseline", str(runs / "baseline"), "--fail-on", "regression"
    )
    assert code == EXIT_CODE_REGRESSION == 4
    deliver = figures(document)["deliver p50"]
    assert deliver["verdict"] == "regression"
    assert deliver["change"] == pytest.approx(deliver["current"] - deliver["baseline"])
    assert deliver["change"] > 0 and deliver["p_value"] < 0.005
    assert figures(document)["deliver p99"]["verdict"] == "regression"
    assert document["comparison"]["regressions"] >= 1
    assert document["comparison"]["baseline"] == "baseline"
    markdown = (runs / "slowed" / "report.md").read_text()
    assert "### Against baseline `baseline`" in markdown
    assert "| deliver p50 | " in markdown and "🔴 regression" in markdown
    html = (runs / "slowed" / "report.html").read_text()
    assert '<section class="panel wide" id="comparison">' in html
    assert html.index('id="comparison"') < html.index("</main>")


def test_two_runs_of_the_same_build_are_not_flagged(runs: Path) -> None:
    code, document = report(
        runs / "same_build", "--baseline", str(runs / "baseline"), "--fail-on", "regression"
    )
    assert code == 0
    assert document["comparison"]["regressions"] == 0
    verdicts = {figure["verdict"] for figure in document["comparison"]["figures"]}
    assert "regression" not in verdicts
    markdown = (runs / "same_build" / "report.md").read_text()
    assert "No regression: every change is within what the two runs' own spread" in markdown


def test_without_fail_on_a_regression_is_reported_but_exits_zero(runs: Path) -> None:
    code, document = report(runs / "slowed", "--baseline", str(runs / "baseline"))
    assert code == 0
    assert document["comparison"]["regressions"] >= 1


def test_every_figure_of_the_issue_is_compared_or_said_why_not(runs: Path) -> None:
    _, document = report(runs / "same_build", "--baseline", str(runs / "baseline"))
    found = figures(document)
    for name in ("deliver", "echo", "publish", "connect"):
        assert {f"{name} p50", f"{name} p99"} <= set(found)
    assert {"failure rate", "completeness", "memory per socket"} <= set(found)
    assert {"recommended connections per instance", "max sockets within objective"} <= set(
        found
    )
    # both runs held the objective throughout: a lower bound is not a plan to compare
    assert found["recommended connections per instance"]["verdict"] == "not judged"
    assert "lower bound" in found["recommended connections per instance"]["basis"]
    # connects happen in the ramp only: too few windows to know their spread
    assert found["connect p99"]["verdict"] == "not judged"
    # the unit costs of both fits, judged on the fits' own standard errors
    for cost in ("us per delivery", "us per handshake", "us per socket second"):
        assert found[cost]["basis"] == "3 standard errors of the two cost fits", found[cost]
    assert found["completeness"]["current"] == 1.0


def deliver_p50_windows(run_dir: Path, window_s: int = 10) -> list[float]:
    """Independently: Locust's current deliver p50 at the end of each window with new
    deliveries (a trailing piece shorter than half a window left out)."""
    with (run_dir / "run_stats_history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    t0 = min(int(row["Timestamp"]) for row in rows)
    groups: dict[int, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        groups[(int(row["Timestamp"]) - t0) // window_s].append(row)
    values, seen = [], 0
    for key in sorted(groups):
        group = groups[key]
        stamps = [int(row["Timestamp"]) for row in group]
        last = {row["Name"]: row for row in group}
        if max(stamps) - min(stamps) + 1 < window_s / 2 or "deliver" not in last:
            continue
        total = int(last["deliver"]["Total Request Count"])
        if total > seen and last["deliver"]["50%"] != "N/A":
            values.append(float(last["deliver"]["50%"]))
        seen = total
    return values


def test_the_verdict_ranks_the_windows_of_both_runs(runs: Path) -> None:
    _, document = report(runs / "slowed", "--baseline", str(runs / "baseline"))
    deliver = figures(document)["deliver p50"]
    old, new = deliver_p50_windows(runs / "baseline"), deliver_p50_windows(runs / "slowed")
    assert len(old) == len(new) == 5
    assert deliver["windows"] == [statistics.median(old), statistics.median(new)]
    # every slowed window is slower than every baseline window: of the C(10, 5) ways
    # to split ten windows into two runs, only this one ranks them so far apart
    assert min(new) > max(old)
    assert deliver["p_value"] == pytest.approx(1 / math.comb(10, 5))
    with (runs / "slowed" / "run_stats.csv").open(newline="") as handle:
        whole_run = {row["Name"]: row for row in csv.DictReader(handle)}
    assert deliver["current"] == float(whole_run["deliver"]["50%"])


def test_one_slow_window_is_noise_a_shift_of_every_window_is_not() -> None:
    steady = [10.0, 11.0, 10.5, 10.0, 11.0, 10.5]
    one_spike = [10.0, 11.0, 95.0, 10.5, 10.0, 11.0]
    shifted = [v + 5 for v in steady]
    spike = compare.judged_on_windows("latency", "x", "ms", (10, 40), (steady, one_spike))
    shift = compare.judged_on_windows("latency", "x", "ms", (10, 15), (steady, shifted))
    assert spike.verdict == "within noise"
    assert shift.verdict == "regression"
    faster = compare.judged_on_windows("latency", "x", "ms", (15, 10), (shifted, steady))
    assert faster.verdict == "improvement"


def edit_report(run: Path, **values: Any) -> None:
    path = run / "report.json"
    document = json.loads(path.read_text())
    document.update(values)
    path.write_text(json.dumps(document))


def forget_keys(run: Path, *keys: str) -> None:
    path = run / "report.json"
    document = json.loads(path.read_text())
    for key in keys:
        del document[key]
    path.write_text(json.dumps(document))


UNIT_COSTS = {
    "cpu_us_per_delivery": 10.0,
    "cpu_us_per_handshake": 300.0,
    "cpu_us_per_inbound_frame": 20.0,
    "cpu_us_per_socket_second": 0.5,
    "r_squared": 0.97,
}


def test_unit_costs_and_the_plan_are_compared_when_both_reports_hold_them(
    runs: Path,
) -> None:
    baseline, current = runs / "baseline", runs / "same_build"
    plan = {"max_sockets_within_slo_is_lower_bound": False, "lower_bound": False}
    edit_report(
        baseline, unit_costs=UNIT_COSTS, recommended_connections_per_instance=1000, **plan
    )
    assert main(["report", str(current)]) == 0
    costlier = {**UNIT_COSTS, "cpu_us_per_delivery": 13.0, "cpu_us_per_handshake": 320.0}
    edit_report(
        current, unit_costs=costlier, recommended_connections_per_instance=700, **plan
    )
    edit_report(baseline, limited_by="cpu", measured_max_sockets=4000, steps=[])
    edit_report(current, limited_by="memory", measured_max_sockets=4000, steps=[])
    view = compare.load_view(baseline, Objective())
    now = compare.load_view(current, Objective())
    comparison = compare.compare(view, now)
    found = {f.name: f for f in comparison.figures}
    assert found["us per delivery"].verdict == "regression"  # +30% > ±15%
    assert found["us per handshake"].verdict == "within noise"  # +7%
    assert "r squared" not in found
    assert found["recommended connections per instance"].verdict == "regression"  # -30%
    assert (found["limited by"].baseline, found["limited by"].current) == ("cpu", "memory")
    assert found["limited by"].verdict == "changed"
    assert found["measured max sockets"].verdict == "not judged"
    assert "capacity steps" in {s.group for s in comparison.skipped}


def test_capacity_model_keys_in_one_report_only_are_named_as_not_compared(
    runs: Path,
) -> None:
    assert main(["report", str(runs / "same_build")]) == 0
    edit_report(runs / "same_build", limited_by="latency", unit_costs=UNIT_COSTS)
    forget_keys(runs / "baseline", "limited_by", "unit_costs")  # an older report
    view = compare.load_view(runs / "baseline", Objective())
    now = compare.load_view(runs / "same_build", Objective())
    skipped = {s.group: s.reason for s in compare.compare(view, now).skipped}
    assert skipped["limited by"] == "not in the baseline's report.json"
    assert skipped["unit costs"] == "no unit_costs in the baseline's report.json"


def test_a_baseline_without_report_json_is_analysed_but_left_untouched(
    runs: Path,
) -> None:
    (runs / "baseline" / "report.json").unlink()
    before = sorted(p.name for p in (runs / "baseline").iterdir())
    code, document = report(runs / "same_build", "--baseline", str(runs / "baseline"))
    assert code == 0
    assert document["comparison"]["figures"]
    assert sorted(p.name for p in (runs / "baseline").iterdir()) == before


def test_a_baseline_that_is_not_a_run_is_refused_in_one_line(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(runs / "same_build"), "--baseline", str(tmp_path / "nope")])
    assert code == 2
    assert capsys.readouterr().err.strip().startswith("wsharness report: baseline: ")


def write_slo(run: Path, *results: str) -> None:
    with (run / "run_slo.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Objective", "Result"])
        writer.writerows([f"objective {i}", result] for i, result in enumerate(results))


def test_fail_on_slo_follows_the_locust_runs_objectives(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = runs / "same_build"
    assert report(run, "--fail-on", "slo")[0] == 2  # no _slo.csv: cannot say it held
    assert "run locust with --slo" in capsys.readouterr().err
    write_slo(run, "pass", "pass")
    assert report(run, "--fail-on", "slo")[0] == 0
    write_slo(run, "pass", "fail")
    assert report(run, "--fail-on", "slo")[0] == 3
    assert "objective failed: objective 1" in capsys.readouterr().err


def test_fail_on_regression_without_a_baseline_is_refused(
    runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert report(runs / "slowed", "--fail-on", "regression")[0] == 2
    assert "--fail-on regression needs --baseline OLD_RUN" in capsys.readouterr().err


def test_the_markdown_fits_a_pull_request_comment(runs: Path) -> None:
    report(runs / "slowed", "--baseline", str(runs / "baseline"))
    section = (runs / "slowed" / "report.md").read_text().split("### Against baseline")[1]
    assert len(section) < 65_536  # GitHub's limit for a comment body
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert table[0] == "| figure | baseline | this run | change | verdict |"
    assert all(line.count(" | ") == 4 for line in table)
