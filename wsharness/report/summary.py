"""The findings as a plain document (``report.json``) and the sentences both pages share.

Every figure says what it was measured on and what bounds it: the plan's bounds are
labelled *measured*, *projected* (from the cost model or the memory fit, beyond what
the run held) or *lower bound*; the run's machine and load generators come from
``run.json`` when the runner wrote one, and generator health from its CSV (or the
report says it was not recorded).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wsharness.report.analysis import Findings, Window
from wsharness.report.costs import COLUMN_LABELS, UnitCosts
from wsharness.report.deliveries import deliveries_document
from wsharness.report.inputs import NO_SERVER_METRICS, RunInputs
from wsharness.report.plan import Plan, Rate
from wsharness.report.steps import (
    BUSY_MACHINE_CORES,
    LOCUST_PERCENTILE_WINDOW_S,
    MachineLoad,
    Step,
)

KIB = 1024
MIB = 1024 * 1024


def knee_sentence(findings: Findings) -> str:
    knee = findings.knee
    sockets = math.floor(knee.max_sockets_within_slo)
    starved = [s for s in findings.steps if s.generator_bound and not s.within_objective]
    if knee.lower_bound and starved:
        where = ", ".join(f"{s.open_sockets:.0f}" for s in starved)
        return (
            f"The server was not driven to its limit: the objective broke only in "
            f"generator-bound {_points(findings)} (at {where} open sockets), so at least "
            f"{sockets} open sockets within it is a lower bound. Add load generators "
            f"(Locust --processes or workers) to find the server's knee."
        )
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


def _points(findings: Findings) -> str:
    return "steps" if findings.steps_from == "capacity steps" else "windows"


LOW_SERVER_CPU_CORES = 0.5
UNCERTAIN_FIT_R_SQUARED = 0.8


def generator_sentence(findings: Findings) -> str:
    """Whether and how the load generators' health was recorded, and what it showed."""
    if not findings.generator_source:
        return (
            "Generator health was not recorded (no <prefix>_generators.csv or "
            "generator_processes.csv): no step could be told generator-bound, so a knee "
            "may be the load generator's."
        )
    bound = [s for s in findings.steps if s.generator_bound]
    source = findings.generator_source
    if not bound:
        return (
            f"No load generator was saturated in any {_points(findings)[:-1]} ({source})."
        )
    names = sorted({p for s in bound for p in s.generator.saturated})
    return (
        f"{len(bound)} of {len(findings.steps)} {_points(findings)} generator-bound "
        f"({', '.join(names)} past 85% CPU, 50 ms loop lag or 85% runnable; {source}): "
        "they never set "
        "the knee."
    )


def measured_on_sentence(inputs: RunInputs, steps: Sequence[Step] = ()) -> str:
    """What machine and load generator the figures were measured on."""
    info = inputs.run_info
    if not info:
        parts = [
            "the run's server and load generator (not described: the run has no run.json)"
        ]
        return "Measured on: " + "; ".join(parts + _other_processes(steps)) + "."
    machine = info.get("machine", {})
    server = info.get("server", {})
    generator = info.get("generator", {})
    parts = [
        f"{server.get('processes', 1)} server process on {machine.get('cpus', '?')} CPUs"
        f" ({machine.get('cpu_model', 'CPU model unknown')})",
        f"{generator.get('processes', '?')} Locust process(es) on the same machine "
        f"({generator.get('where', 'loopback')})",
    ]
    if "load_average_at_start" in machine:
        parts.append(f"load average {machine['load_average_at_start']:.1f} at the start")
    if server.get("test_settings"):
        settings = ", ".join(f"{k}={v}" for k, v in server["test_settings"].items())
        parts.append(f"test-only server settings {settings}")
    return "Measured on: " + "; ".join(parts + _other_processes(steps)) + "."


def _other_processes(steps: Sequence[Step]) -> list[str]:
    """What else the machine ran, when the runner recorded ``machine.csv``."""
    other = [s.other_cores for s in steps if s.other_cores is not None]
    if not other:
        return []
    point = "step" if steps[0].span.kind == "step" else "window"
    return [
        f"other processes took at most {max(other):.2f} cores of the machine in any "
        f"{point} (machine.csv)"
    ]


def caveats(findings: Findings) -> list[str]:
    """What a reader should know before trusting the figures."""
    notes = []
    if not findings.server_metrics:
        notes.append(
            "Server figures not measured: the run has no server metrics "
            "(server_metrics.csv; a server without /metrics, or pass --prometheus URL). "
            "Open sockets, the knee and latency come from Locust's own statistics; memory "
            "per socket, server CPU, the cost model, fan-out and publish lag, and the "
            "plan's CPU and memory bounds are unknown."
        )
    if findings.steps_from != "capacity steps":
        notes.append(
            "Not a capacity run (no <prefix>_steps.csv): each window was judged, ramps "
            "included; run with --shape capacity to judge steady steps."
        )
    short = [
        s for s in findings.steps if s.span.end - s.span.start < LOCUST_PERCENTILE_WINDOW_S
    ]
    if findings.steps_from == "capacity steps" and short:
        notes.append(
            f"{len(short)} step(s) held less than {LOCUST_PERCENTILE_WINDOW_S} s: their "
            "latency percentiles include part of the ramp (use --step-seconds 10 or more)."
        )
    notes.append(generator_sentence(findings))
    costs = findings.unit_costs
    if costs is not None and costs.confounded:
        together = ", ".join(COLUMN_LABELS[c] for c in costs.confounded)
        notes.append(
            f"{together} moved with the other work across the run's points, so its cost "
            "is not separable in this run and is carried by the costs it moved with: "
            "the CPU per socket at this run's mix is measured, a profile with another "
            "mix is projected with that uncertainty."
        )
    broken = [w for w in findings.windows if not w.within_objective]
    busiest = max((cores for _, cores in findings.cpu_cores), default=0.0)
    if broken and findings.cpu_cores and busiest < LOW_SERVER_CPU_CORES:
        notes.append(
            f"The server never used more than {busiest:.0%} of a core while the objective "
            "was broken: the load generator may be the bottleneck (check Locust's CPU; "
            "spread the load with --processes or workers)."
        )
    busy = [s for s in findings.steps if s.busy_machine]
    if busy:
        where = ", ".join(f"{s.open_sockets:.0f}" for s in busy)
        most = max(s.other_cores or 0.0 for s in busy)
        notes.append(
            f"Other processes took up to {most:.2f} cores of the machine (more than "
            f"{BUSY_MACHINE_CORES}) while {len(busy)} {_points(findings)} ran (at {where} "
            "open sockets): the server's CPU there was measured on a busier machine than "
            "the rest, which inflates its unit costs. Re-run on a quiet machine."
        )
    if findings.memory is not None and findings.memory.r_squared < UNCERTAIN_FIT_R_SQUARED:
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
    basis = ""
    if findings.plan is not None:
        plan = findings.plan
        bound = plan.bound("latency" if plan.limited_by == "generator" else plan.limited_by)
        basis = f" {bound.basis},"
    text = (
        f"Scale out at {rec.connections_per_instance} open connections per instance "
        f"({rec.limited_by} bound,{basis} {objective.headroom:.0%} headroom)."
    )
    if objective.peak is not None and rec.instances_for_peak is not None:
        text += (
            f" A peak of {objective.peak} sockets needs {rec.instances_for_peak} instances."
        )
    return text


def memory_sentence(findings: Findings) -> str:
    memory = findings.memory
    if memory is None:
        return f"{NO_SERVER_METRICS} (memory per socket needs the server's memory)."
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


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def step_document(step: Step, costs: UnitCosts | None) -> dict[str, Any]:
    load, generator = step.load, step.generator
    predicted = costs.cores(*load.work()) if costs is not None else None
    return {
        "index": step.span.index,
        "kind": step.span.kind,
        "start": round(step.span.start, 3),
        "end": round(step.span.end, 3),
        "users": step.span.users,
        "open_sockets": round(load.open_sockets, 1),
        "generator_bound": generator.bound if generator.recorded else None,
        "generator": {
            "recorded": generator.recorded,
            "processes": generator.processes,
            "busiest_cpu_percent": _rounded(generator.busiest_cpu_percent, 1),
            "worst_loop_lag_ms": _rounded(generator.worst_lag_ms, 1),
            "saturated": list(generator.saturated),
            "cpu_cores": _rounded(generator.cpu_cores, 4),
        },
        "requests": step.requests,
        "failures": step.failures,
        "error_rate": round(step.error_rate, 6),
        "latency_ms": {
            name: {"p50": p.p50_ms, "p95": p.p95_ms, "p99": p.p99_ms}
            for name, p in sorted(step.latency.items())
        },
        "objective_p99_ms": step.objective_p99_ms,
        "within_objective": step.within_objective,
        "reason": step.reason or None,
        "server_cpu_cores": _rounded(load.cpu_cores, 4),
        "model_cpu_cores": _rounded(predicted, 4),
        "deliveries_per_s": _rounded(load.deliveries_per_s, 1),
        "handshakes_per_s": _rounded(load.handshakes_per_s, 2),
        "inbound_frames_per_s": _rounded(load.inbound_per_s, 1),
        "memory_bytes": _rounded(load.memory_bytes, 0),
        "server_publish_lag_p99_ms": _rounded(step.server_lag_p99_ms),
        "server_fanout_p99_ms": _rounded(step.fanout_p99_ms),
        "machine": _machine_document(step.machine),
    }


def _machine_document(machine: MachineLoad | None) -> dict[str, Any] | None:
    if machine is None:
        return None
    return {
        "busy_cores": round(machine.busy_cores, 4),
        "steal_cores": round(machine.steal_cores, 4),
        "other_cores": _rounded(machine.other_cores, 4),
    }


def unit_costs_document(
    costs: UnitCosts | None, plan: Plan | None, server_metrics: bool = True
) -> dict[str, Any]:
    if costs is None:
        return {
            "cpu_us_per_delivery": None,
            "cpu_us_per_handshake": None,
            "cpu_us_per_inbound_frame": None,
            "cpu_us_per_socket_second": None,
            "r_squared": None,
            "points": 0,
            "confounded": [],
            "standard_errors": {},
            "saturation_sockets": None,
            "method": "not fitted: fewer than 3 points with server CPU"
            if server_metrics
            else f"not fitted: {NO_SERVER_METRICS}",
        }
    return {
        "cpu_us_per_delivery": _rounded(costs.cpu_us_per_delivery, 3),
        "cpu_us_per_handshake": _rounded(costs.cpu_us_per_handshake, 3),
        "cpu_us_per_inbound_frame": _rounded(costs.cpu_us_per_inbound_frame, 3),
        "cpu_us_per_socket_second": _rounded(costs.cpu_us_per_socket_second, 4),
        "r_squared": round(costs.r_squared, 4),
        "points": len(costs.points),
        "confounded": list(costs.confounded),
        "standard_errors": {
            name: round(error, 4) for name, error in costs.standard_errors.items()
        },
        "saturation_sockets": None
        if plan is None or plan.saturation_sockets is None
        else math.floor(plan.saturation_sockets),
        "method": "non-negative least squares of server CPU cores on open sockets, "
        "deliveries/s, handshakes/s and inbound frames/s over the steps (and ramps); "
        "a confounded column (null) is carried by the columns it moved with",
    }


def profile_rates(plan: Plan) -> list[tuple[str, Rate]]:
    profile = plan.profile
    return [
        ("notifications_per_socket_minute", profile.notifications_per_socket_minute),
        ("reconnects_per_socket_hour", profile.reconnects_per_socket_hour),
        ("inbound_per_socket_minute", profile.inbound_per_socket_minute),
        ("open_files_per_process", profile.open_files),
    ]


def plan_document(plan: Plan) -> dict[str, Any]:
    profile = plan.profile
    return {
        "bounds": [
            {
                "resource": bound.resource,
                "sockets": None if bound.sockets is None else math.floor(bound.sockets),
                "basis": bound.basis,
                "detail": bound.detail,
            }
            for bound in plan.bounds
        ],
        "profile": {
            name: {"value": round(rate.value, 4), "source": rate.source}
            for name, rate in (
                (
                    "notifications_per_socket_minute",
                    profile.notifications_per_socket_minute,
                ),
                ("reconnects_per_socket_hour", profile.reconnects_per_socket_hour),
                ("inbound_per_socket_minute", profile.inbound_per_socket_minute),
                ("open_files_per_process", profile.open_files),
            )
        },
        "limited_by": plan.limited_by,
        "connections_per_instance": plan.connections_per_instance,
        "instances_for_peak": plan.instances_for_peak,
    }


def report_document(findings: Findings, inputs: RunInputs) -> dict[str, Any]:
    """What ``report.json`` holds."""
    knee, memory, rec, objective = (
        findings.knee,
        findings.memory,
        findings.recommendation,
        findings.objective,
    )
    plan = findings.plan
    assert plan is not None
    return {
        "max_sockets_within_slo": math.floor(knee.max_sockets_within_slo),
        "max_sockets_within_slo_is_lower_bound": knee.lower_bound,
        "objective_first_broken_at_sockets": _rounded(knee.first_violation_sockets, 1),
        "objective_first_broken_by": knee.first_violation_reason or None,
        "memory_per_socket_bytes": None if memory is None else round(memory.slope_bytes, 1),
        "memory_baseline_bytes": None if memory is None else round(memory.intercept_bytes),
        "memory_fit_r_squared": None if memory is None else round(memory.r_squared, 4),
        "memory_unknown_reason": None if memory is not None else NO_SERVER_METRICS,
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
            "instance_cpus": objective.instance_cpus,
            "processes": objective.processes,
            "target_utilisation": objective.target_utilisation,
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
            "memory_fit_points": 0 if memory is None else len(memory.points),
            "server_metrics": findings.server_metrics,
        },
        "server_metrics": {
            "measured": findings.server_metrics,
            "reason": None if findings.server_metrics else NO_SERVER_METRICS,
        },
        "deliveries": deliveries_document(inputs),
        "limited_by": plan.limited_by,
        "measured_max_sockets": math.floor(plan.measured_max_sockets),
        "lower_bound": plan.lower_bound,
        "unit_costs": unit_costs_document(
            findings.unit_costs, plan, findings.server_metrics
        ),
        "plan": plan_document(plan),
        "steps_from": findings.steps_from,
        "steps": [step_document(s, findings.unit_costs) for s in findings.steps],
        "generator_health": {
            "recorded": bool(findings.generator_source),
            "source": findings.generator_source or None,
            "statement": generator_sentence(findings),
        },
        "measured_on": {
            **inputs.run_info,
            "statement": measured_on_sentence(inputs, findings.steps),
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


RESOURCE_LABELS = {
    "latency": "latency",
    "cpu": "CPU",
    "memory": "memory",
    "file_descriptors": "file descriptors",
    "generator": "load generator",
}


def bound_text(bound: dict[str, Any]) -> str:
    sockets = bound["sockets"]
    label = RESOURCE_LABELS[bound["resource"]]
    if sockets is None:
        return f"{label} — ({bound['basis']})"
    at_least = "≥ " if bound["basis"] == "lower bound" else ""
    return f"{label} {at_least}{sockets} ({bound['basis']})"


def headline_lines(document: dict[str, Any]) -> list[str]:
    """The plan in a few labelled lines (the console, the demo, the top of both pages)."""
    plan, costs = document["plan"], document["unit_costs"]
    objective = document["objective"]
    limit = document["measured_max_sockets"]
    judged = "capacity steps" if document["steps_from"] == "capacity steps" else "windows"
    if document["lower_bound"]:
        latency = f"at least {limit} open sockets within the objective (lower bound)"
    else:
        latency = (
            f"{limit} open sockets within the objective (measured knee; broken at "
            f"{document['objective_first_broken_at_sockets']:.0f})"
        )
    lines = [
        f"server limit, measured on {len(document['steps'])} {judged}: {latency}",
        f"bounds per instance at {objective['target_utilisation']:.0%} utilisation: "
        + " · ".join(bound_text(b) for b in plan["bounds"]),
        f"recommended per instance: {document['recommended_connections_per_instance']} "
        f"(limited by {RESOURCE_LABELS[document['limited_by']]}, "
        f"{objective['headroom']:.0%} headroom); instances for peak "
        f"{objective['peak'] or '—'}: {document['instances_for_peak'] or '—'}",
    ]
    if costs["r_squared"] is not None:
        saturation = costs["saturation_sockets"]
        lines.append(
            f"unit costs (measured, NNLS on {costs['points']} points, R² "
            f"{costs['r_squared']:.3f}; — = not separable): "
            f"{_us(costs['cpu_us_per_delivery'])}/delivery, "
            f"{_us(costs['cpu_us_per_handshake'])}/handshake, "
            f"{_us(costs['cpu_us_per_inbound_frame'])}/inbound frame, "
            f"{_us(costs['cpu_us_per_socket_second'], 2)}/socket-second"
            + (
                f"; one server process at 100% CPU near {saturation} sockets at this "
                "run's mix (projected)"
                if saturation
                else ""
            )
        )
    lines.append(document["generator_health"]["statement"])
    lines.append(document["measured_on"]["statement"])
    lines += [f"re-check the plan: {command}" for command in document["recheck_commands"]]
    return lines


def _us(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f} µs"


def unit_costs_sentence(findings: Findings) -> str:
    costs = findings.unit_costs
    if costs is None:
        return ""
    text = (
        f"{_us(costs.cpu_us_per_delivery)} per delivery, "
        f"{_us(costs.cpu_us_per_handshake)} per handshake, "
        f"{_us(costs.cpu_us_per_inbound_frame)} per inbound frame, "
        f"{_us(costs.cpu_us_per_socket_second, 2)} per socket-second "
        f"(measured: non-negative least squares on {len(costs.points)} points, "
        f"R² = {costs.r_squared:.3f}; — = not separable in this run)."
    )
    plan = findings.plan
    if plan is not None and plan.saturation_sockets:
        text += (
            f" At this run's mix one server process reaches 100% of a core near "
            f"{plan.saturation_sockets:.0f} open sockets (projected)."
        )
    return text
