"""The load client's exact delivery counts in the report, and completeness from them.

Small hand-written ``_deliveries.csv`` / ``_completeness.csv`` files
(``tests/fixtures/deliveries``) added to the recorded small run: a relay run of two
workers (per-socket accounts filled), and a busy ``wsharness`` run whose deliver
timings were sampled (completeness columns empty).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from wsharness.cli import main
from wsharness.report.compare import completeness_of
from wsharness.report.inputs import load_run, read_deliveries

FIXTURES = Path(__file__).parents[1] / "fixtures" / "deliveries"


def add(run_dir: Path, fixture: str, suffix: str) -> Path:
    """Copy a fixture into the run as ``run<suffix>`` (the run's CSV prefix is ``run``)."""
    return Path(shutil.copy(FIXTURES / fixture, run_dir / f"run{suffix}"))


def report(run_dir: Path) -> dict[str, Any]:
    assert main(["report", str(run_dir)]) == 0
    return json.loads((run_dir / "report.json").read_text())


def test_the_last_total_row_is_the_run_figure(tmp_path: Path) -> None:
    """Not a worker's row, nor the periodic row written in the same second as the stop."""
    counts = read_deliveries(Path(shutil.copy(FIXTURES / "relay_deliveries.csv", tmp_path)))
    assert counts is not None
    assert (counts.delivered, counts.missing, counts.duplicate, counts.out_of_order) == (
        235,
        5,
        1,
        2,
    )
    assert (counts.expected, counts.received_expected) == (240, 235)
    assert (counts.sockets_assessed, counts.sockets_complete) == (4, 3)
    assert counts.lowest_socket_completeness == pytest.approx(0.916667)


def test_empty_completeness_columns_are_unknown(tmp_path: Path) -> None:
    counts = read_deliveries(
        Path(shutil.copy(FIXTURES / "sampled_deliveries.csv", tmp_path))
    )
    assert counts is not None
    assert counts.expected is None and counts.completeness is None
    assert counts.timed_share == pytest.approx(3500 / 9500)
    assert counts.lowest_sampling_ratio == 0.25


def test_a_relay_run_shows_counts_and_completeness(run_dir: Path) -> None:
    add(run_dir, "relay_deliveries.csv", "_deliveries.csv")
    deliveries = report(run_dir)["deliveries"]
    assert deliveries["recorded"] is True
    assert deliveries["source"] == "run_deliveries.csv"
    assert [
        deliveries[k] for k in ("delivered", "missing", "duplicate", "out_of_order")
    ] == [
        235,
        5,
        1,
        2,
    ]
    completeness = deliveries["completeness"]
    assert completeness["ratio"] == pytest.approx(235 / 240, abs=1e-6)
    assert (completeness["sockets_assessed"], completeness["sockets_complete"]) == (4, 3)
    assert completeness["lowest_socket"] == pytest.approx(0.916667)
    assert deliveries["sampling"]["sampled"] is False
    markdown = (run_dir / "report.md").read_text()
    assert (
        "Deliveries (exact counts): 235 delivered, 5 missing (1 sockets with gaps), "
        "1 duplicate, 2 out of order." in markdown
    )
    assert (
        "Completeness: 235 of 240 expected messages received (97.92%) on 4 sockets, "
        "3 complete, lowest socket 91.67%" in markdown
    )
    assert "Every delivery was timed (235 of 235)" in markdown
    html = (run_dir / "report.html").read_text()
    assert "<h2>Deliveries</h2>" in html and "235 of 240 expected messages" in html


def test_a_sampled_run_says_its_percentiles_come_from_a_sample(run_dir: Path) -> None:
    add(run_dir, "sampled_deliveries.csv", "_deliveries.csv")
    deliveries = report(run_dir)["deliveries"]
    sampling = deliveries["sampling"]
    assert sampling["sampled"] is True
    assert sampling["timed"] == 3500
    assert sampling["ratio"] == pytest.approx(3500 / 9500, abs=1e-6)
    assert sampling["lowest_second_ratio"] == 0.25
    assert deliveries["completeness"]["ratio"] is None
    assert "no per-socket accounts" in deliveries["completeness"]["reason"]
    markdown = (run_dir / "report.md").read_text()
    assert (
        "Deliver percentiles come from an unbiased sample: 3500 of 9500 deliveries timed "
        "(36.8% of the run; at the busiest second 25.0%)" in markdown
    )


def test_without_the_files_the_keys_stay_with_a_reason(run_dir: Path) -> None:
    deliveries = report(run_dir)["deliveries"]
    assert deliveries["recorded"] is False
    assert deliveries["delivered"] is None and deliveries["sampling"]["ratio"] is None
    assert "no run_deliveries.csv" in deliveries["reason"]
    assert deliveries["completeness"]["ratio"] is None
    markdown = (run_dir / "report.md").read_text()
    assert "Exact delivery counts not measured: the run has no run_deliveries.csv." in (
        markdown
    )


def test_completeness_prefers_the_per_socket_accounts(run_dir: Path) -> None:
    add(run_dir, "relay_deliveries.csv", "_deliveries.csv")
    measured = completeness_of(load_run(run_dir))
    assert measured is not None
    assert (measured.delivered, measured.expected) == (235, 240)
    assert measured.source == "per-socket accounts, run_deliveries.csv"


def test_completeness_from_exact_counts_without_accounts(run_dir: Path) -> None:
    add(run_dir, "sampled_deliveries.csv", "_deliveries.csv")
    measured = completeness_of(load_run(run_dir))
    assert measured is not None
    assert (measured.delivered, measured.expected) == (9500, 9503)
    assert measured.source == "exact delivery counts, run_deliveries.csv"


def test_completeness_summed_over_sockets_when_only_they_are_written(
    run_dir: Path,
) -> None:
    add(run_dir, "relay_completeness.csv", "_completeness.csv")
    measured = completeness_of(load_run(run_dir))
    assert measured is not None
    assert (measured.delivered, measured.expected) == (235, 240)
    assert measured.source == "per-socket accounts, run_completeness.csv"
    completeness = report(run_dir)["deliveries"]["completeness"]
    assert (completeness["sockets_assessed"], completeness["sockets_complete"]) == (4, 3)


def test_completeness_falls_back_to_sequence_gaps(run_dir: Path) -> None:
    measured = completeness_of(load_run(run_dir))
    assert measured is not None
    assert measured.source == "from sequence gaps"
