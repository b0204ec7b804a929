"""A run too short, too small or missing a file: one clear line naming it, exit code 2."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from wsharness.cli import main


def report_error(run_dir: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert main(["report", str(run_dir), *flags]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert not (run_dir / "report.html").exists(), "no report of nonsense"
    return lines[0]


def rewrite(path: Path, keep: Callable[[dict[str, str]], bool]) -> None:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames or [], [row for row in reader if keep(row)]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def first_timestamp(run_dir: Path) -> int:
    with (run_dir / "run_stats_history.csv").open() as handle:
        return min(int(row["Timestamp"]) for row in csv.DictReader(handle))


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        ("run_stats_history.csv", "no Locust *_stats_history.csv"),
        ("run_stats.csv", "run_stats.csv: missing"),
        ("run_failures.csv", "run_failures.csv: missing"),
    ],
)
def test_a_missing_file_is_named(
    run_dir: Path, capsys: pytest.CaptureFixture[str], missing: str, expected: str
) -> None:
    (run_dir / missing).unlink()
    assert expected in report_error(run_dir, capsys)


def test_a_missing_directory_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no such run directory" in report_error(tmp_path / "nowhere", capsys)


def test_a_run_too_short_says_how_long_it_was(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = first_timestamp(run_dir)
    rewrite(
        run_dir / "run_stats_history.csv", lambda row: int(row["Timestamp"]) < start + 12
    )
    message = report_error(run_dir, capsys)
    assert "run too short: 12 s of Locust history, need at least 30 s" in message


def test_an_empty_history_is_too_short(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite(run_dir / "run_stats_history.csv", lambda row: False)
    assert "has no rows: run too short" in report_error(run_dir, capsys)


def test_a_run_too_small_to_fit_memory_says_so(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = run_dir / "server_metrics.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:  # as if the run had only ever held 5 sockets
        if row[1] == "wsh_open_connections":
            row[3] = "5.0"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    message = report_error(run_dir, capsys)
    assert "run too small: open sockets only ranged 5 to 5" in message


def test_too_few_scrapes_is_named(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = first_timestamp(run_dir)
    rewrite(run_dir / "server_metrics.csv", lambda row: float(row["timestamp"]) < start + 3)
    assert "too few scrapes with both wsh_open_connections" in report_error(run_dir, capsys)


def test_history_without_per_request_rows_asks_for_full_history(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite(run_dir / "run_stats_history.csv", lambda row: row["Name"] == "Aggregated")
    assert "--csv-full-history" in report_error(run_dir, capsys)


def test_a_run_without_the_objective_request_names_it(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite(run_dir / "run_stats.csv", lambda row: row["Name"] != "deliver")  # no publisher
    message = report_error(run_dir, capsys)
    assert "no 'deliver' requests in run_stats.csv" in message


def test_a_file_that_is_not_locust_csv_names_the_columns(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run_dir / "run_stats.csv").write_text("something,else\n1,2\n")
    message = report_error(run_dir, capsys)
    assert "run_stats.csv: missing column(s) Type, Name, Request Count" in message


def test_two_runs_in_one_directory_are_refused(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (run_dir / "other_stats_history.csv").write_text("Timestamp\n")
    assert "several Locust runs" in report_error(run_dir, capsys)


def test_a_bad_headroom_is_refused(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--headroom must be in [0, 1)" in report_error(
        run_dir, capsys, "--headroom", "1"
    )


def test_an_unreachable_prometheus_is_named(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = report_error(run_dir, capsys, "--prometheus", "http://127.0.0.1:9")
    assert "cannot query Prometheus at http://127.0.0.1:9" in message


def test_the_console_script_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wsharness.cli", "report", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("wsharness report: ")
    assert "_stats_history.csv" in result.stderr
