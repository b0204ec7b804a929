"""``wsharness report RUN_DIR``: build the capacity report of a finished run.

Python API (what ``make demo`` calls)::

    from wsharness.report.command import build_report
    from wsharness.report.analysis import Objective
    html_path = build_report(Path("results/run"), Objective(peak=50_000))

Writes ``report.html``, ``report.md`` and ``report.json`` into the run directory and
returns the path of ``report.html``; raises :class:`ReportInputError` (one-line message)
when the run cannot give a meaningful report.

``--check PLAN_RUN`` also judges the run against PLAN_RUN's plan (see
:mod:`wsharness.report.check`) and exits with :data:`EXIT_CHECK_FAILED` when it did not
hold.  Exit codes: 0 report written (and check passed), 2 the inputs cannot give a
report, 3 ``--fail-on slo`` and an objective failed, 4 ``--fail-on regression`` and a
figure regressed (:mod:`wsharness.report.gate`), 5 the check failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wsharness.report import compare, gate, k8s
from wsharness.report.analysis import Objective, analyse
from wsharness.report.check import (
    CheckResult,
    check_against,
    check_document,
    check_sentence,
    recheck_commands,
)
from wsharness.report.inputs import ReportInputError, history_span, load_run
from wsharness.report.jaeger import JaegerTarget
from wsharness.report.render_html import render_html
from wsharness.report.render_md import render_markdown
from wsharness.report.summary import headline_lines, report_document
from wsharness.sampler import METRICS_FILE, query_prometheus

PROMETHEUS_PADDING_S = 5.0
EXIT_CHECK_FAILED = 5  # 3 and 4 are the gate's: a failed objective, a regression


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


def read_plan(plan_run: Path) -> dict:
    """PLAN_RUN's ``report.json``."""
    path = Path(plan_run) / "report.json"
    if not path.is_file():
        raise ReportInputError(f"{path}: missing (run wsharness report {plan_run} first)")
    try:
        return json.loads(path.read_text())
    except ValueError as error:
        raise ReportInputError(f"{path}: not JSON ({error})") from None


def build_report(
    run_dir: Path,
    objective: Objective | None = None,
    jaeger: JaegerTarget | None = None,
    prometheus_url: str | None = None,
    check_run: Path | None = None,
    baseline: Path | None = None,
) -> Path:
    """Analyse the run in ``run_dir`` and write its three report files.

    With ``baseline`` (an older run's directory) each file also compares the two runs.
    """
    run_dir = Path(run_dir)
    plan_report = read_plan(check_run) if check_run is not None else None
    if prometheus_url:
        fetch_from_prometheus(run_dir, prometheus_url)
    inputs = load_run(run_dir)
    findings = analyse(inputs, objective or Objective(), jaeger)
    check: CheckResult | None = None
    if plan_report is not None:
        check = check_against(findings.steps, plan_report, str(check_run))
    document = report_document(findings, inputs)
    recheck = recheck_commands(
        run_dir, inputs.run_info, findings.recommendation.connections_per_instance
    )
    document["recheck_commands"] = recheck
    document["check"] = None if check is None else check_document(check)
    if check is not None:
        document["check"]["summary"] = check_sentence(check)
    markdown = render_markdown(findings, inputs, recheck, check)
    html = render_html(findings, inputs, recheck, check)
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
        description="Reads Locust's --csv files and server_metrics.csv (optional: "
        "without it the server figures are not measured) in RUN_DIR and "
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
    profile = parser.add_argument_group(
        "production profile", "what the plan is made for (rates default to the run's own)"
    )
    profile.add_argument("--instance-cpus", type=float, default=defaults.instance_cpus)
    profile.add_argument(
        "--processes",
        type=int,
        default=defaults.processes,
        help="server processes per instance (each uses at most one core)",
    )
    profile.add_argument(
        "--instance-open-files",
        type=int,
        default=None,
        help="open-file limit per server process (default: the run's server, if known)",
    )
    profile.add_argument(
        "--target-utilisation",
        type=float,
        default=defaults.target_utilisation,
        help="share of CPU, memory and open files the plan may use",
    )
    profile.add_argument("--notifications-per-socket-minute", type=float, default=None)
    profile.add_argument("--reconnects-per-socket-hour", type=float, default=None)
    profile.add_argument("--inbound-per-socket-minute", type=float, default=None)
    parser.add_argument(
        "--check",
        type=Path,
        default=None,
        metavar="PLAN_RUN",
        help="judge this run (re-run at PLAN_RUN's recommendation) against its plan; "
        f"exit {EXIT_CHECK_FAILED} if the plan did not hold or could not be checked",
    )
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
    if not 0 < args.target_utilisation <= 1:
        raise ReportInputError(
            f"--target-utilisation must be in (0, 1], got {args.target_utilisation}"
        )
    if args.processes < 1 or args.instance_cpus <= 0:
        raise ReportInputError("--processes and --instance-cpus must be > 0")
    rates = (
        args.notifications_per_socket_minute,
        args.reconnects_per_socket_hour,
        args.inbound_per_socket_minute,
    )
    if any(rate is not None and rate < 0 for rate in rates):
        raise ReportInputError("per-socket rates must be >= 0")
    return Objective(
        p99_ms=args.slo_p99_ms,
        error_rate=args.slo_error_rate,
        request_name=args.slo_request,
        headroom=args.headroom,
        window_s=args.window_s,
        instance_memory_bytes=int(args.instance_memory_mib * 2**20),
        peak=args.peak,
        instance_cpus=args.instance_cpus,
        processes=args.processes,
        instance_open_files=args.instance_open_files,
        target_utilisation=args.target_utilisation,
        notifications_per_socket_minute=args.notifications_per_socket_minute,
        reconnects_per_socket_hour=args.reconnects_per_socket_hour,
        inbound_per_socket_minute=args.inbound_per_socket_minute,
    )


def run(args: argparse.Namespace) -> int:
    try:
        jaeger = (
            JaegerTarget(args.jaeger_url, args.jaeger_service) if args.jaeger_url else None
        )
        html_path = build_report(
            args.run_dir,
            objective_from_args(args),
            jaeger,
            args.prometheus,
            check_run=args.check,
            baseline=args.baseline,
        )
    except ReportInputError as error:
        print(f"wsharness report: {error}", file=sys.stderr)
        return 2
    document = json.loads((html_path.parent / "report.json").read_text())
    print_figures(document)
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
    check = document["check"]
    if check is not None:
        print(f"check: {check['summary']}")
        if not check["passed"]:
            return EXIT_CHECK_FAILED
    code, reasons = gate.judge_run(args.fail_on, document, args.run_dir)
    for reason in reasons:
        print(f"wsharness report: {reason}", file=sys.stderr)
    return code


def print_figures(document: dict) -> None:
    """The headline figures, each with what it was measured on and what bounds it."""
    memory = document["memory_per_socket_bytes"]
    per_socket = document["memory_unknown_reason"]
    if memory is not None:
        per_socket = f"{memory / 1024:.1f} KiB"
    print(
        f"max sockets within objective: {document['max_sockets_within_slo']}"
        f"{' (lower bound)' if document['max_sockets_within_slo_is_lower_bound'] else ''}; "
        f"memory per socket: {per_socket}; "
        f"recommended per instance: {document['recommended_connections_per_instance']}; "
        f"instances for peak: {document['instances_for_peak']}"
    )
    for line in headline_lines(document):
        print(line)
