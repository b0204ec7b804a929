"""``report.md``: the pull-request summary states the figures of ``report.json``."""

from __future__ import annotations

import json
from pathlib import Path

from wsharness.report.analysis import Objective
from wsharness.report.command import build_report
from wsharness.report.jaeger import JaegerTarget


def test_the_summary_carries_the_objective_figures_and_links(run_dir: Path) -> None:
    build_report(
        run_dir, Objective(peak=20_000), JaegerTarget("http://127.0.0.1:16686", "locust")
    )
    summary = (run_dir / "report.md").read_text()
    figures = json.loads((run_dir / "report.json").read_text())

    assert summary.startswith(f"## Capacity report: `{run_dir.name}`")
    assert "p99 of `deliver` ≤ 250 ms and error rate ≤ 0.10%" in summary
    assert f"| {figures['max_sockets_within_slo']} (lower bound) |" in summary
    per_socket_kib = figures["memory_per_socket_bytes"] / 1024
    assert f"| memory per socket | {per_socket_kib:.1f} KiB" in summary
    assert f"| {figures['recommended_connections_per_instance']} |" in summary
    assert f"| instances for peak 20000 | {figures['instances_for_peak']} |" in summary
    for name in ("connect", "echo", "deliver", "reconnect", "refresh"):
        assert f"| {name} |" in summary
    assert "](http://127.0.0.1:16686/search?service=locust&operation=ws.client." in summary
