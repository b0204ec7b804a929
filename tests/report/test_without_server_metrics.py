"""A run without ``server_metrics.csv`` (a server with no ``/metrics``) still gets a report.

The recorded small run with its server metrics removed: the report is built from the
Locust CSVs alone (exit 0), the latency knee is judged as before, and every figure that
needs the server says it was not measured, in all three files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.report.conftest import RECORDED_RUN
from wsharness.cli import main

NOT_MEASURED = "not measured: the run has no server metrics"


@pytest.fixture
def bare_run(tmp_path: Path) -> Path:
    """``tests/fixtures/small_run`` without ``server_metrics.csv``."""
    copy = tmp_path / "bare"
    shutil.copytree(RECORDED_RUN, copy, ignore=shutil.ignore_patterns("server_metrics.csv"))
    return copy


def report(run_dir: Path, *flags: str) -> dict[str, Any]:
    assert main(["report", str(run_dir), *flags]) == 0
    return json.loads((run_dir / "report.json").read_text())


def test_the_report_is_written_and_says_why_server_figures_are_missing(
    bare_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = report(bare_run)
    assert f"memory per socket: {NOT_MEASURED}" in capsys.readouterr().out
    assert document["server_metrics"] == {"measured": False, "reason": NOT_MEASURED}
    for key in ("memory_per_socket_bytes", "memory_baseline_bytes", "memory_fit_r_squared"):
        assert document[key] is None, key
    assert document["memory_unknown_reason"] == NOT_MEASURED
    assert document["memory_bound_sockets"] is None
    bounds = {bound["resource"]: bound for bound in document["plan"]["bounds"]}
    for resource in ("cpu", "memory"):
        assert bounds[resource]["sockets"] is None
        assert bounds[resource]["basis"] == "unknown"
        assert bounds[resource]["detail"] == NOT_MEASURED
    assert document["unit_costs"]["method"] == f"not fitted: {NOT_MEASURED}"
    assert document["inputs"]["server_scrapes"] == 0
    assert "Locust suite's open-socket count" in document["inputs"]["open_sockets_source"]
    for step in document["steps"]:
        assert step["server_cpu_cores"] is None and step["memory_bytes"] is None
        assert step["server_fanout_p99_ms"] is None
    assert document["closes_by_code"] == {}
    assert any("Server figures not measured" in note for note in document["caveats"])


def test_the_latency_knee_is_judged_from_locust_alone(
    bare_run: Path, run_dir: Path
) -> None:
    bare, full = report(bare_run), report(run_dir)
    assert bare["max_sockets_within_slo"] > 0
    assert bare["recommended_connections_per_instance"] > 0
    assert bare["limited_by"] == "latency"
    # the client's percentiles and verdicts per window do not depend on the server's view
    assert [w["p99_ms"] for w in bare["windows"]] == [w["p99_ms"] for w in full["windows"]]
    assert [w["within_objective"] for w in bare["windows"]] == [
        w["within_objective"] for w in full["windows"]
    ]


def test_both_pages_mark_the_server_sections_not_measured(bare_run: Path) -> None:
    report(bare_run)
    markdown = (bare_run / "report.md").read_text()
    assert f"| memory per socket | {NOT_MEASURED} |" in markdown
    assert f"| CPU | — | unknown | {NOT_MEASURED} |" in markdown
    assert f"Server side (publish lag, fan-out, CPU): {NOT_MEASURED}." in markdown
    html = (bare_run / "report.html").read_text()
    for title in ("Memory against open sockets", "Server CPU", "Closes by code"):
        section = html[html.index(f"<h2>{title}</h2>") :]
        section = section[: section.index("</section>")]
        assert NOT_MEASURED in section, title
        assert "<svg" not in section, title


def test_no_kubernetes_plan_without_memory_per_socket(
    bare_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", str(bare_run), "--emit-k8s", str(tmp_path / "k8s")])
    assert code == 2
    assert "no memory per socket (the run has no server metrics)" in capsys.readouterr().err
    assert (bare_run / "report.html").is_file()
