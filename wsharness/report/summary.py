"""The findings as a plain document (``report.json``) and the sentences both pages share."""

from __future__ import annotations

import math
from typing import Any

from wsharness.report.analysis import Findings, Window
from wsharness.report.inputs import RunInputs

KIB = 1024
MIB = 1024 * 1024


def knee_sentence(findings: Findings) -> str:
    knee = findings.knee
    sockets = math.floor(knee.max_sockets_within_slo)
    if knee.lower_bound:
        return (
            f"The objective held for the whole run: at least {sockets} open sockets "
            f"within it (a lower bound: the run never reached the knee; load harder to "
            f"find it)."
        )
    if sockets == 0:
        return (
            f"The objective was broken already at the lowest load observed "
            f"({knee.first_violation_sockets:.0f} open sockets: "
            f"{knee.first_violation_reason})."
        )
    return (
        f"Within the objective up to {sockets} open sockets; it was first broken at "
        f"{knee.first_violation_sockets:.0f} ({knee.first_violation_reason})."
    )


LOW_SERVER_CPU_CORES = 0.5
UNCERTAIN_FIT_R_SQUARED = 0.8


def caveats(findings: Findings) -> list[str]:
    """What a reader should know before trusting the figures."""
    notes = []
    broken = [w for w in findings.windows if not w.within_objective]
    busiest = max((cores for _, cores in findings.cpu_cores), default=0.0)
    if broken and findings.cpu_cores and busiest < LOW_SERVER_CPU_CORES:
        notes.append(
            f"The server never used more than {busiest:.0%} of a core while the objective "
            "was broken: the load generator may be the bottleneck (check Locust's CPU; "
            "spread the load with --processes or workers)."
        )
    if findings.memory.r_squared < UNCERTAIN_FIT_R_SQUARED:
        notes.append(
            f"Memory per socket is uncertain: the straight line explains only "
            f"{findings.memory.r_squared:.0%} of the variation (R²); run longer or hold "
            "more sockets."
        )
    return notes


def recommendation_sentence(findings: Findings) -> str:
    rec, objective = findings.recommendation, findings.objective
    if rec.connections_per_instance <= 0:
        return "No autoscaling target can be recommended from this run."
    text = (
        f"Scale out at {rec.connections_per_instance} open connections per instance "
        f"({rec.limited_by} bound, {objective.headroom:.0%} headroom)."
    )
    if objective.peak is not None and rec.instances_for_peak is not None:
        text += (
            f" A peak of {objective.peak} sockets needs {rec.instances_for_peak} instances."
        )
    return text


def memory_sentence(findings: Findings) -> str:
    memory = findings.memory
    return (
        f"{memory.slope_bytes / KIB:.1f} KiB per open socket on top of a "
        f"{memory.intercept_bytes / MIB:.0f} MiB baseline "
        f"(least squares over {len(memory.points)} scrapes, R² = {memory.r_squared:.3f})."
    )


def _window_document(window: Window) -> dict[str, Any]:
    return {
        "start": window.start,
        "end": window.end,
        "open_sockets": round(window.open_sockets, 1),
        "requests": window.requests,
        "failures": window.failures,
        "p99_ms": {name: p.p99_ms for name, p in sorted(window.latency.items())},
        "server_publish_lag_p99_ms": _rounded(window.server_lag_p99_ms),
        "server_fanout_p99_ms": _rounded(window.fanout_p99_ms),
        "within_objective": window.within_objective,
        "reason": window.reason or None,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def report_document(findings: Findings, inputs: RunInputs) -> dict[str, Any]:
    """What ``report.json`` holds."""
    knee, memory, rec, objective = (
        findings.knee,
        findings.memory,
        findings.recommendation,
        findings.objective,
    )
    return {
        "max_sockets_within_slo": math.floor(knee.max_sockets_within_slo),
        "max_sockets_within_slo_is_lower_bound": knee.lower_bound,
        "objective_first_broken_at_sockets": knee.first_violation_sockets,
        "objective_first_broken_by": knee.first_violation_reason or None,
        "memory_per_socket_bytes": round(memory.slope_bytes, 1),
        "memory_baseline_bytes": round(memory.intercept_bytes),
        "memory_fit_r_squared": round(memory.r_squared, 4),
        "memory_bound_sockets": None
        if rec.memory_bound_sockets is None
        else math.floor(rec.memory_bound_sockets),
        "recommended_connections_per_instance": rec.connections_per_instance,
        "recommendation_limited_by": rec.limited_by,
        "instances_for_peak": rec.instances_for_peak,
        "objective": {
            "request_name": objective.request_name,
            "p99_ms": objective.p99_ms,
            "error_rate": objective.error_rate,
            "window_s": objective.window_s,
            "headroom": objective.headroom,
            "instance_memory_bytes": objective.instance_memory_bytes,
            "peak": objective.peak,
        },
        "inputs": {
            "run_dir": str(inputs.run_dir),
            "locust_csv_prefix": inputs.prefix,
            "duration_s": findings.duration_s,
            "windows": len(findings.windows),
            "windows_within_objective": sum(w.within_objective for w in findings.windows),
            "requests": findings.total_requests,
            "failures": findings.total_failures,
            "max_open_sockets": findings.max_open_sockets,
            "open_sockets_source": findings.socket_source,
            "server_scrapes": len({s.timestamp for s in inputs.samples}),
            "memory_fit_points": len(memory.points),
        },
        "caveats": caveats(findings),
        "windows": [_window_document(w) for w in findings.windows],
        "closes_by_code": findings.closes_by_code,
        "jaeger_links": [
            {
                "name": link.name,
                "service": link.service,
                "operation": link.operation,
                "min_duration_ms": link.min_duration_ms,
                "max_ms": link.max_ms,
                "url": link.url,
            }
            for link in findings.jaeger_links
        ],
    }
