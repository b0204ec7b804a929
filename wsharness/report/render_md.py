"""``report.md``: the capacity summary to paste into a pull request."""

from __future__ import annotations

import math

from wsharness.report.analysis import Findings
from wsharness.report.inputs import RunInputs
from wsharness.report.summary import (
    KIB,
    MIB,
    caveats,
    knee_sentence,
    memory_sentence,
    recommendation_sentence,
)


def _figures_table(findings: Findings) -> list[str]:
    knee, memory, rec = findings.knee, findings.memory, findings.recommendation
    bound = "" if not knee.lower_bound else " (lower bound)"
    memory_bound = (
        "not limiting (memory did not grow)"
        if rec.memory_bound_sockets is None
        else f"{math.floor(rec.memory_bound_sockets)}"
    )
    instances = "—" if rec.instances_for_peak is None else str(rec.instances_for_peak)
    return [
        "| figure | value |",
        "|---|---|",
        f"| max open sockets within objective | {math.floor(knee.max_sockets_within_slo)}"
        f"{bound} |",
        f"| memory per socket | {memory.slope_bytes / KIB:.1f} KiB "
        f"(R² {memory.r_squared:.3f}) |",
        f"| sockets that fit in {findings.objective.instance_memory_bytes / MIB:.0f} MiB "
        f"| {memory_bound} |",
        f"| recommended open connections per instance | {rec.connections_per_instance} |",
        f"| instances for peak {findings.objective.peak or '—'} | {instances} |",
    ]


def _latency_table(findings: Findings) -> list[str]:
    lines = [
        "| request | windows | worst p50 | worst p95 | worst p99 |",
        "|---|---|---|---|---|",
    ]
    names = sorted({name for w in findings.windows for name in w.latency})
    for name in names:
        values = [w.latency[name] for w in findings.windows if name in w.latency]
        worst = [
            max((getattr(v, f) or 0) for v in values)
            for f in ("p50_ms", "p95_ms", "p99_ms")
        ]
        lines.append(
            f"| {name} | {len(values)} | " + " | ".join(f"{v:g} ms" for v in worst) + " |"
        )
    return lines


def _server_latency_lines(findings: Findings) -> list[str]:
    lags = [
        w.server_lag_p99_ms for w in findings.windows if w.server_lag_p99_ms is not None
    ]
    fanouts = [w.fanout_p99_ms for w in findings.windows if w.fanout_p99_ms is not None]
    if not lags and not fanouts:
        return []
    parts = []
    if lags:
        parts.append(f"publish-to-socket lag p99 up to {max(lags):.0f} ms")
    if fanouts:
        parts.append(f"fan-out p99 up to {max(fanouts):.0f} ms")
    return ["", f"Server side, per window: {', '.join(parts)}."]


def render_markdown(findings: Findings, inputs: RunInputs) -> str:
    objective = findings.objective
    lines = [
        f"## Capacity report: `{inputs.run_dir.name}`",
        "",
        f"Objective: p99 of `{objective.request_name}` ≤ {objective.p99_ms:g} ms and error "
        f"rate ≤ {objective.error_rate:.2%}, judged per {objective.window_s} s window "
        f"against the server's open sockets.",
        "",
        f"- {knee_sentence(findings)}",
        f"- Memory: {memory_sentence(findings)}",
        f"- {recommendation_sentence(findings)}",
        *(f"- ⚠ {note}" for note in caveats(findings)),
        "",
        *_figures_table(findings),
        "",
        "### Latency (client side, per window)",
        "",
        *_latency_table(findings),
        *_server_latency_lines(findings),
        "",
        f"Run: {findings.duration_s} s, {findings.total_requests} requests, "
        f"{findings.total_failures} failures, up to {findings.max_open_sockets:.0f} open "
        f"sockets ({findings.socket_source}).",
    ]
    if findings.closes_by_code:
        closes = ", ".join(f"{code}: {n}" for code, n in findings.closes_by_code.items())
        lines.append(f"Closes by code: {closes}.")
    if findings.jaeger_links:
        lines += ["", "### Slowest traced operations", ""]
        lines += [
            f"- [{link.name}: slower than {link.min_duration_ms} ms]({link.url}) "
            f"(max {link.max_ms:.0f} ms)"
            for link in findings.jaeger_links
        ]
    lines += ["", "Full charts: `report.html`; figures: `report.json`.", ""]
    return "\n".join(lines)
