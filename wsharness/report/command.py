"""``wsharness report RUN_DIR``: build the capacity report of a finished run.

Python API (what ``make demo`` calls)::

    from wsharness.report.command import build_report
    from wsharness.report.analysis import Objective
    html_path = build_report(Path("results/run"), Objective(peak=50_000))

Writes ``report.html``, ``report.md`` and ``report.json`` into the run directory and
returns the path of ``report.html``; raises :class:`ReportInputError` (one-line message)
when the run cannot give a meaningful report.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wsharness.report import compare, gate, k8s
from wsharness.report.analysis import Objective, analyse
from wsharness.report.inputs import ReportInputError, history_span, load_run
from wsharness.report.jaeger import JaegerTarget
from wsharness.report.render_html import render_html
from wsharness.report.render_md import render_markdown
from wsharness.report.summary import report_document
from wsharness.sampler import METRICS_FILE, query_prometheus

PROMETHEUS_PADDING_S = 5.0


def fetch_from_prometheus(run_dir: Path, prometheus_url: str) -> Path:
    """Replace ``server_metrics.csv`` with the run's series from a Prometheus API."""
    start, end = history_span(run_dir)
    (run_dir / METRICS_FILE).unlink(missing_ok=True)
    try:
        return query_prometheus(
            prometheus_url,
            run_dir,
            start - PROMETHEUS_PADDING_S,
            end + PROMETHEUS_PADDING_S,
        )
    except (OSError, ValueError, KeyError) as error:
        raise ReportInputError(
            f"cannot query Prometheus at {prometheus_url}: {error}"
        ) from None


def build_report(
    run_dir: Path,
    objective: Objective | None = None,
    jaeger: JaegerTarget | None = None,
    prometheus_url: str | None = None,
    baseline: Path | None = None,
) -> Path:
    """Analyse the run in ``run_dir`` and write its three report files.

    With ``baseline`` (an older run's directory) each file also compares the two runs.
    """
    run_dir = Path(run_dir)
    if prometheus_url:
        fetch_from_prometheus(run_dir, prometheus_url)
    inputs = load_run(run_dir)
    findings = analyse(inputs, objective or Objective(), jaeger)
    document = report_document(findings, inputs)
    markdown, html = render_markdown(findings, inputs), render_html(findings, inputs)
    if baseline is not None:
        current = compare.RunView(run_dir.name, document, inputs, findings.windows)
        comparison = compare.compare(
            compare.load_view(baseline, findings.objective), current
        )
        document["comparison"] = compare.comparison_document(comparison)
        markdown += "\n" + compare.render_markdown(comparison)
        html = compare.insert_html(html, comparison)
    (run_dir / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    (run_dir / "report.md").write_text(markdown)
    html_path = run_dir / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return html_path


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = Objective()
    parser = subparsers.add_parser(
        "report",
        help="build the capacity report of a finished run",
        description="Reads Locust's --csv files and server_metrics.csv in RUN_DIR and "
        "writes report.html, report.md and report.json there.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    parser.add_argument("--slo-p99-ms", type=float, default=defaults.p99_ms)
    parser.add_argument("--slo-error-rate", type=float, default=defaults.error_rate)
    parser.add_argument(
        "--slo-request", default=defaults.request_name, help="request name judged on p99"
    )
    parser.add_argument("--window-s", type=int, default=defaults.window_s)
    parser.add_argument(
        "--headroom", type=float, default=defaults.headroom, help="fraction kept free"
    )
    parser.add_argument(
        "--instance-memory-mib",
        type=float,
        default=defaults.instance_memory_bytes / 2**20,
        help="memory one instance may use (bounds sockets per instance)",
    )
    parser.add_argument("--peak", type=int, default=None, help="peak open sockets to plan")
    parser.add_argument("--jaeger-url", default=None, help="e.g. http://localhost:16686")
    parser.add_argument("--jaeger-service", default="wsharness-locust")
    parser.add_argument(
        "--prometheus",
        default=None,
        metavar="URL",
        help="take server metrics from this Prometheus (replaces server_metrics.csv)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        metavar="OLD_RUN",
        help="compare with this earlier run's directory (e.g. the last release's)",
    )
    parser.add_argument(
        "--fail-on",
        action="append",
        choices=gate.FAIL_ON,
        default=[],
        help="exit 3 when an objective of locust --slo failed (slo), 4 when a figure "
        "regressed against --baseline (regression); repeatable",
    )
    parser.add_argument(
        "--emit-k8s",
        type=Path,
        default=None,
        metavar="DIR",
        help="write Kubernetes manifests following the plan (HPA on open connections)",
    )
    parser.add_argument("--k8s-image", default=k8s.DEFAULT_IMAGE, help="server image")
    parser.set_defaults(run=run)


def objective_from_args(args: argparse.Namespace) -> Objective:
    if not 0 <= args.headroom < 1:
        raise ReportInputError(f"--headroom must be in [0, 1), got {args.headroom}")
    if args.window_s < 1 or args.slo_p99_ms <= 0 or args.slo_error_rate < 0:
        raise ReportInputError("--window-s, --slo-p99-ms and --slo-error-rate must be > 0")
    return Objective(
        p99_ms=args.slo_p99_ms,
        error_rate=args.slo_error_rate,
        request_name=args.slo_request,
        headroom=args.headroom,
        window_s=args.window_s,
        instance_memory_bytes=int(args.instance_memory_mib * 2**20),
        peak=args.peak,
    )


def run(args: argparse.Namespace) -> int:
    try:
        jaeger = (
            JaegerTarget(args.jaeger_url, args.jaeger_service) if args.jaeger_url else None
        )
        html_path = build_report(
            args.run_dir, objective_from_args(args), jaeger, args.prometheus, args.baseline
        )
    except ReportInputError as error:
        print(f"wsharness report: {error}", file=sys.stderr)
        return 2
    document = json.loads((html_path.parent / "report.json").read_text())
    print(
        f"max sockets within objective: {document['max_sockets_within_slo']}"
        f"{' (lower bound)' if document['max_sockets_within_slo_is_lower_bound'] else ''}; "
        f"memory per socket: {document['memory_per_socket_bytes'] / 1024:.1f} KiB; "
        f"recommended per instance: {document['recommended_connections_per_instance']}; "
        f"instances for peak: {document['instances_for_peak']}"
    )
    print(f"report: {html_path}")
    if args.emit_k8s is not None:
        try:
            source = str(html_path.parent / "report.json")
            plan = k8s.plan_from_report(document, image=args.k8s_image, source=source)
        except k8s.PlanError as error:
            print(f"wsharness report: --emit-k8s: {error}", file=sys.stderr)
            return 2
        written = k8s.write(args.emit_k8s, plan)
        print(f"kubernetes manifests: {args.emit_k8s} ({len(written)} files)")
    code, reasons = gate.judge_run(args.fail_on, document, args.run_dir)
    for reason in reasons:
        print(f"wsharness report: {reason}", file=sys.stderr)
    return code
