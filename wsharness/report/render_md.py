"""``report.md``: the capacity summary to paste into a pull request."""

from __future__ import annotations

import math

from wsharness.report.analysis import Findings
from wsharness.report.check import CheckResult, check_sentence
from wsharness.report.deliveries import delivery_lines
from wsharness.report.inputs import NO_SERVER_METRICS, RunInputs
from wsharness.report.plan import Plan
from wsharness.report.steps import Step
from wsharness.report.summary import (
    KIB,
    MIB,
    RESOURCE_LABELS,
    caveats,
    knee_sentence,
    measured_on_sentence,
    memory_sentence,
    recommendation_sentence,
    unit_costs_sentence,
)


def _figures_table(findings: Findings) -> list[str]:
    knee, memory, rec = findings.knee, findings.memory, findings.recommendation
    bound = "" if not knee.lower_bound else " (lower bound)"
    if memory is None:
        memory_bound = memory_text = NO_SERVER_METRICS
    else:
        memory_bound = (
            "not limiting (memory did not grow)"
            if rec.memory_bound_sockets is None
            else f"{math.floor(rec.memory_bound_sockets)}"
        )
        memory_text = f"{memory.slope_bytes / KIB:.1f} KiB (R² {memory.r_squared:.3f})"
    instances = "—" if rec.instances_for_peak is None else str(rec.instances_for_peak)
    return [
        "| figure | value |",
        "|---|---|",
        f"| max open sockets within objective | {math.floor(knee.max_sockets_within_slo)}"
        f"{bound} |",
        f"| memory per socket | {memory_text} |",
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
    if not findings.server_metrics:
        return ["", f"Server side (publish lag, fan-out, CPU): {NO_SERVER_METRICS}."]
    if not lags and not fanouts:
        return []
    parts = []
    if lags:
        parts.append(f"publish-to-socket lag p99 up to {max(lags):.0f} ms")
    if fanouts:
        parts.append(f"fan-out p99 up to {max(fanouts):.0f} ms")
    return ["", f"Server side, per window: {', '.join(parts)}."]


def _plan_table(plan: Plan) -> list[str]:
    lines = [
        "| resource | sockets per instance | basis | what bounds it |",
        "|---|---|---|---|",
    ]
    for bound in plan.bounds:
        sockets = "—" if bound.sockets is None else f"{math.floor(bound.sockets)}"
        if bound.basis == "lower bound":
            sockets = f"≥ {sockets}"
        mark = " **(binds)**" if bound.resource == plan.limited_by else ""
        lines.append(
            f"| {RESOURCE_LABELS[bound.resource]}{mark} | {sockets} | {bound.basis} "
            f"| {bound.detail} |"
        )
    return lines


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _generator(step: Step) -> str:
    if not step.generator.recorded:
        return "not recorded"
    cpu = step.generator.busiest_cpu_percent
    busiest = "" if cpu is None else f" ({cpu:.0f}% CPU)"
    return ("**bound**" if step.generator_bound else "ok") + busiest


def _steps_table(findings: Findings) -> list[str]:
    costs = findings.unit_costs
    lines = [
        "| step | open sockets | generator | p99 "
        f"{findings.objective.request_name} | errors | server CPU (model) | deliveries/s "
        "| handshakes/s | inbound/s | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step in findings.steps:
        load = step.load
        model = ""
        if costs is not None:
            model = f" ({costs.cores(*load.work()):.2f})"
        verdict = "within" if step.within_objective else step.reason
        lines.append(
            f"| {step.span.kind} {step.span.index} | {load.open_sockets:.0f} "
            f"| {_generator(step)} | {_ms(step.objective_p99_ms)} | {step.error_rate:.2%} "
            f"| {_number(load.cpu_cores, 2)}{model} | {_number(load.deliveries_per_s)} "
            f"| {_number(load.handshakes_per_s, 1)} | {_number(load.inbound_per_s)} "
            f"| {verdict} |"
        )
    return lines


def _recheck_lines(recheck: list[str], check: CheckResult | None) -> list[str]:
    lines = []
    if recheck:
        lines += ["", "### Re-check the plan", "", "Steady at the recommendation:", ""]
        lines += ["```", *recheck, "```"]
    if check is not None:
        lines += ["", f"### Check against `{check.plan_run}`", ""]
        lines += [f"{'✅' if check.passed else '❌'} {check_sentence(check)}"]
    return lines


def render_markdown(
    findings: Findings,
    inputs: RunInputs,
    recheck: list[str] | None = None,
    check: CheckResult | None = None,
) -> str:
    objective = findings.objective
    judged = "step" if findings.steps_from == "capacity steps" else "window"
    plan = findings.plan
    assert plan is not None
    lines = [
        f"## Capacity report: `{inputs.run_dir.name}`",
        "",
        f"Objective: p99 of `{objective.request_name}` ≤ {objective.p99_ms:g} ms and error "
        f"rate ≤ {objective.error_rate:.2%}, judged per {judged} against the server's "
        "open sockets.",
        "",
        measured_on_sentence(inputs, findings.steps),
        "",
        f"- {knee_sentence(findings)}",
        f"- Memory: {memory_sentence(findings)}",
        f"- {recommendation_sentence(findings)}",
        *(f"- Unit costs: {text}" for text in [unit_costs_sentence(findings)] if text),
        *(f"- ⚠ {note}" for note in caveats(findings)),
        "",
        *_figures_table(findings),
        "",
        f"### Plan (limited by {RESOURCE_LABELS[plan.limited_by]})",
        "",
        *_plan_table(plan),
        "",
        f"### {'Steps' if judged == 'step' else 'Windows'} (steady parts judged)",
        "",
        *_steps_table(findings),
        "",
        "### Deliveries",
        "",
        *(f"- {line}" for line in delivery_lines(inputs)),
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
    lines += _recheck_lines(recheck or [], check)
    lines += ["", "Full charts: `report.html`; figures: `report.json`.", ""]
    return "\n".join(lines)
