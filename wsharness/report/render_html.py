"""``report.html``: one self-contained page (inline CSS and SVG; no script, no network)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from wsharness.report.analysis import Findings, Window
from wsharness.report.check import CheckResult, check_sentence
from wsharness.report.deliveries import delivery_lines
from wsharness.report.inputs import NO_SERVER_METRICS, FailureRow, RunInputs
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
from wsharness.report.svg import PALETTE, WIDE, Guide, Series, bar_chart, line_chart

LATENCY_NAMES = ("connect", "echo", "deliver", "reconnect", "refresh")
DELIVER = "deliver"
MAX_FAILURE_ROWS = 15
GREY = "#9ca3af"

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#111827;
background:#f3f4f6}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}
.sub{color:#4b5563;margin:0 0 20px}
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:16px}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px #0002}
.card .value{font-size:28px;font-weight:650}.card .label{color:#4b5563;font-size:13px}
.card .note{color:#b45309;font-size:12px}
.findings{background:#fff;border-radius:10px;padding:12px 20px;margin-bottom:16px;
box-shadow:0 1px 2px #0002}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
section.panel{background:#fff;border-radius:10px;padding:14px 16px;
box-shadow:0 1px 2px #0002}
section.wide{grid-column:1 / -1}
.chart{width:100%;height:auto}
.chart .grid{stroke:#e5e7eb}.chart .tick{font-size:11px;fill:#6b7280}
.chart .axis-label{font-size:12px;fill:#374151}
.chart .guide{stroke-dasharray:4 3;stroke-width:1.5}
.chart .guide-label{font-size:11px}.chart .bar-value{font-size:11px;fill:#374151}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:12px;color:#374151}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:4px;
vertical-align:-1px}
.explain{color:#4b5563;font-size:13px;margin:6px 0 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top}
td.num,th.num{text-align:right}.bad{color:#b91c1c}.ok{color:#15803d}
.empty{color:#6b7280;font-style:italic}.caveat{color:#b45309}
code{font-size:12px}
"""


def _card(label: str, value: str, note: str = "") -> str:
    note_html = f'<div class="note">{escape(note)}</div>' if note else ""
    return (
        f'<div class="card"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{note_html}</div>'
    )


def _cards(findings: Findings) -> str:
    knee, memory, rec = findings.knee, findings.memory, findings.recommendation
    peak = findings.objective.peak
    return (
        '<div class="cards">'
        + "".join(
            [
                _card(
                    "Max open sockets within objective",
                    ("≥ " if knee.lower_bound else "")
                    + str(math.floor(knee.max_sockets_within_slo)),
                    "lower bound: no server-bound step broke the objective"
                    if knee.lower_bound
                    else f"measured knee on {findings.steps_from}",
                ),
                _card("Memory per open socket", f"{memory.slope_bytes / KIB:.1f} KiB")
                if memory is not None
                else _card("Memory per open socket", "—", NO_SERVER_METRICS),
                _card(
                    "Recommended autoscaling target",
                    f"{rec.connections_per_instance} / instance",
                    f"{rec.limited_by} bound, {findings.objective.headroom:.0%} headroom",
                ),
                _card(
                    f"Instances for a peak of {peak}" if peak else "Instances for peak",
                    "—" if rec.instances_for_peak is None else str(rec.instances_for_peak),
                    "" if peak else "give --peak N",
                ),
            ]
        )
        + "</div>"
    )


def _panel(title: str, body: str, explain: str, wide: bool = False) -> str:
    css = "panel wide" if wide else "panel"
    return (
        f'<section class="{css}"><h2>{escape(title)}</h2>{body}'
        f'<p class="explain">{explain}</p></section>'
    )


def _sockets_series(findings: Findings, t0: float) -> list[Series]:
    """The open-socket count used (server gauge first), then the other counts."""
    used = [(t - t0, v) for t, v in findings.sockets]
    series = [Series(f"open sockets ({findings.socket_source})", used, PALETTE[0])]
    if findings.client_sockets and findings.socket_source.startswith("server"):
        client = [(t - t0, v) for t, v in findings.client_sockets]
        series.append(
            Series("open sockets (Locust suite)", client, PALETTE[1], dashed=True)
        )
    users = [(t - t0, v) for t, v in findings.users]
    series.append(Series("Locust users", users, GREY, dashed=True))
    return series


def _sockets_panel(findings: Findings, t0: float) -> str:
    series = _sockets_series(findings, t0)
    guides = [
        Guide("within objective", findings.knee.max_sockets_within_slo, color="#15803d")
    ]
    if findings.recommendation.connections_per_instance > 0:
        guides.append(
            Guide("autoscaling target", findings.recommendation.connections_per_instance)
        )
    chart = line_chart(
        "chart-sockets", series, "seconds since start", "open sockets", guides, width=WIDE
    )
    return _panel(
        "Open sockets over time",
        chart,
        f"Source: {escape(findings.socket_source)}. Guides: the highest socket count "
        "still within the objective and the recommended scale-out point.",
        wide=True,
    )


def _latency_points(windows: Sequence[Window], name: str, field: str) -> list:
    points = [
        (w.open_sockets, getattr(w.latency[name], field))
        for w in windows
        if name in w.latency and getattr(w.latency[name], field) is not None
    ]
    return sorted(points)


def _latency_panel(findings: Findings, name: str) -> str:
    windows = findings.windows
    series = [
        Series(label, _latency_points(windows, name, field), color, style="both")
        for label, field, color in (
            ("p50", "p50_ms", PALETTE[3]),
            ("p95", "p95_ms", PALETTE[1]),
            ("p99", "p99_ms", PALETTE[2]),
        )
    ]
    guides = []
    if name == findings.objective.request_name:
        guides.append(
            Guide(
                f"objective p99 {findings.objective.p99_ms:g} ms",
                findings.objective.p99_ms,
                color="#b91c1c",
            )
        )
    if not findings.knee.lower_bound and findings.knee.first_violation_sockets:
        guides.append(
            Guide(
                "first broken",
                findings.knee.first_violation_sockets,
                axis="x",
                color="#b91c1c",
            )
        )
    explain = (
        f"One point per {findings.objective.window_s} s window: Locust's percentiles of "
        f"<code>{escape(name)}</code> over that window, at the window's mean open sockets."
    )
    if name == DELIVER:
        series.append(_server_lag_series(windows))
        explain += (
            " Dashed: the server's own publish-to-socket lag p99 (its histogram), so a gap "
            "between the two is time spent outside the server (network, load generator)."
        )
    chart = line_chart(f"chart-latency-{name}", series, "open sockets", "ms", guides)
    return _panel(f"{name}: latency against open sockets", chart, explain)


def _server_lag_series(windows: Sequence[Window]) -> Series:
    points = sorted(
        (w.open_sockets, w.server_lag_p99_ms)
        for w in windows
        if w.server_lag_p99_ms is not None
    )
    return Series("server lag p99", points, PALETTE[5], style="both", dashed=True)


def _not_measured(title: str) -> str:
    body = f'<p class="empty">{escape(NO_SERVER_METRICS)}.</p>'
    return _panel(title, body, "Needs server_metrics.csv (the server's /metrics).")


def _memory_panel(findings: Findings) -> str:
    memory = findings.memory
    if memory is None:
        return _not_measured("Memory against open sockets")
    used = set(memory.points)
    xs = [x for x, _ in memory.points]
    fitted = [
        (x, (memory.intercept_bytes + memory.slope_bytes * x) / MIB)
        for x in (min(xs), max(xs))
    ]
    series = [
        Series(
            "scrapes in the fit",
            [(x, y / MIB) for x, y in memory.points],
            PALETTE[0],
            "dots",
        ),
        Series(
            "other scrapes (ramp down)",
            [(x, y / MIB) for x, y in findings.memory_scrapes if (x, y) not in used],
            GREY,
            "dots",
        ),
        Series(f"fit: {memory.slope_bytes / KIB:.1f} KiB/socket", fitted, PALETTE[2]),
    ]
    chart = line_chart(
        "chart-memory", series, "open sockets", "resident memory (MiB)", y_zero=False
    )
    return _panel("Memory against open sockets", chart, escape(memory_sentence(findings)))


def _cpu_panel(findings: Findings, t0: float) -> str:
    if not findings.server_metrics:
        return _not_measured("Server CPU")
    points = [(t - t0, cores * 100) for t, cores in findings.cpu_cores]
    chart = line_chart(
        "chart-cpu",
        [Series("server CPU", points, PALETTE[4])],
        "seconds since start",
        "CPU %",
    )
    return _panel(
        "Server CPU",
        chart,
        "Increase of the server's CPU-seconds counter between scrapes (100% = one core).",
    )


def _closes_panel(findings: Findings) -> str:
    if not findings.server_metrics:
        return _not_measured("Closes by code")
    bars = [(code, float(count)) for code, count in findings.closes_by_code.items()]
    body = (
        bar_chart("chart-closes", bars, "connections closed")
        if bars
        else '<p class="empty">No connection closed during the run.</p>'
    )
    return _panel(
        "Closes by code",
        body,
        "Increase of <code>wsh_closes_total</code> per close code over the run.",
    )


def _failure_rows(failures: Sequence[FailureRow]) -> str:
    if not failures:
        return '<p class="empty">No failures.</p>'
    top = sorted(failures, key=lambda f: f.occurrences, reverse=True)[:MAX_FAILURE_ROWS]
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{escape(f.error)}</td>"
        f'<td class="num">{f.occurrences}</td></tr>'
        for f in top
    )
    more = len(failures) - len(top)
    tail = f'<p class="empty">…and {more} more kinds.</p>' if more > 0 else ""
    return (
        '<table><tr><th>request</th><th>error</th><th class="num">count</th></tr>'
        f"{rows}</table>{tail}"
    )


def _failures_panel(findings: Findings, inputs: RunInputs, t0: float) -> str:
    points = [(w.end - t0, w.error_rate * 100) for w in findings.windows]
    guide = Guide(
        f"objective {findings.objective.error_rate:.2%}",
        findings.objective.error_rate * 100,
        color="#b91c1c",
    )
    chart = line_chart(
        "chart-errors",
        [Series("error rate", points, PALETTE[2], style="both")],
        "seconds since start",
        "error rate (%)",
        [guide],
        width=WIDE,
    )
    return _panel(
        "Failures",
        chart + _failure_rows(inputs.failures),
        "Error rate per window (failures / requests of every kind) and Locust's "
        "failures by request and error.",
        wide=True,
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def _window_row(window: Window, t0: float) -> str:
    verdict = "within" if window.within_objective else escape(window.reason)
    return (
        f'<tr><td class="num">{window.start - t0:.0f} to {window.end - t0:.0f}</td>'
        f'<td class="num">{window.open_sockets:.0f}</td>'
        f'<td class="num">{window.requests}</td><td class="num">{window.failures}</td>'
        f'<td class="num">{window.error_rate:.3%}</td>'
        f'<td class="num">{_ms(window.objective_p99_ms)}</td>'
        f'<td class="num">{_ms(window.server_lag_p99_ms)}</td>'
        f'<td class="num">{_ms(window.fanout_p99_ms)}</td>'
        f'<td class="{"ok" if window.within_objective else "bad"}">{verdict}</td></tr>'
    )


def _windows_table(findings: Findings, t0: float) -> str:
    name = findings.objective.request_name
    rows = "".join(_window_row(w, t0) for w in findings.windows)
    table = (
        '<table><tr><th class="num">seconds</th><th class="num">open sockets</th>'
        '<th class="num">requests</th><th class="num">failures</th>'
        f'<th class="num">error rate</th><th class="num">p99 {escape(name)} (ms)</th>'
        '<th class="num">server lag p99 (ms)</th><th class="num">fan-out p99 (ms)</th>'
        f"<th>verdict</th></tr>{rows}</table>"
    )
    return _panel(
        "Windows judged against the objective",
        table,
        "The knee is the lowest-socket window that breaks the objective.",
        wide=True,
    )


def _jaeger_panel(findings: Findings) -> str:
    if not findings.jaeger_links:
        return ""
    items = "".join(
        f'<li><a href="{escape(link.url)}">{escape(link.operation)}</a> in '
        f"<code>{escape(link.service)}</code> slower than {link.min_duration_ms} ms "
        f"(slowest seen {link.max_ms:.0f} ms)</li>"
        for link in findings.jaeger_links
    )
    return _panel(
        "Slowest traced operations (Jaeger)",
        f"<ul>{items}</ul>",
        "Searches for the slowest 1% of each operation in the run's time range; each "
        "trace continues into the server's spans.",
        wide=True,
    )


def _plan_panel(findings: Findings) -> str:
    plan = findings.plan
    assert plan is not None
    rows = ""
    for bound in plan.bounds:
        sockets = "—" if bound.sockets is None else str(math.floor(bound.sockets))
        if bound.basis == "lower bound":
            sockets = "≥ " + sockets
        label = RESOURCE_LABELS[bound.resource]
        if bound.resource == plan.limited_by:
            label += " (binds)"
        rows += (
            f"<tr><td>{escape(label)}"
            f'</td><td class="num">{sockets}</td><td>{escape(bound.basis)}</td>'
            f"<td>{escape(bound.detail)}</td></tr>"
        )
    table = (
        '<table><tr><th>resource</th><th class="num">sockets per instance</th>'
        f"<th>basis</th><th>what bounds it</th></tr>{rows}</table>"
    )
    return _panel(
        f"Plan: limited by {RESOURCE_LABELS[plan.limited_by]}",
        table,
        escape(unit_costs_sentence(findings))
        + " Measured: seen in this run; projected: from the cost model or the memory "
        "fit, beyond what the run held.",
        wide=True,
    )


def _step_row(step: Step, findings: Findings) -> str:
    load, costs = step.load, findings.unit_costs
    model = "—"
    if costs is not None:
        model = f"{costs.cores(*load.work()):.2f}"
    generator = "not recorded"
    if step.generator.recorded:
        generator = "bound" if step.generator_bound else "ok"
        if step.generator.busiest_cpu_percent is not None:
            generator += f" ({step.generator.busiest_cpu_percent:.0f}% CPU)"
    verdict = "within" if step.within_objective else escape(step.reason)
    cells = [
        f"{step.span.kind} {step.span.index}",
        f"{load.open_sockets:.0f}",
        generator,
        _ms(step.objective_p99_ms),
        f"{step.error_rate:.2%}",
        "—" if load.cpu_cores is None else f"{load.cpu_cores:.2f}",
        model,
        _ms(load.deliveries_per_s),
        "—" if load.handshakes_per_s is None else f"{load.handshakes_per_s:.1f}",
        _ms(load.inbound_per_s),
    ]
    css = "ok" if step.within_objective else "bad"
    return (
        "<tr>"
        + "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
        + f'<td class="{css}">{verdict}</td></tr>'
    )


def _steps_panel(findings: Findings) -> str:
    heads = ("point", "open sockets", "generator", f"p99 {findings.objective.request_name}",
             "errors", "server CPU", "model CPU", "deliveries/s", "handshakes/s",
             "inbound/s")  # fmt: skip
    header = "".join(f'<th class="num">{escape(h)}</th>' for h in heads)
    rows = "".join(_step_row(step, findings) for step in findings.steps)
    return _panel(
        "Steps judged (steady parts)"
        if findings.steps_from == "capacity steps"
        else "Windows judged (not a capacity run: ramps included)",
        f"<table><tr>{header}<th>verdict</th></tr>{rows}</table>",
        "A generator-bound point (a Locust process past 85% CPU or 50 ms loop lag) never "
        "sets the knee. Server CPU in cores; model CPU is the unit costs applied to the "
        "point's work.",
        wide=True,
    )


def _recheck_panel(recheck: list[str], check: CheckResult | None) -> str:
    body = ""
    if recheck:
        body += "<pre><code>" + escape("\n".join(recheck)) + "</code></pre>"
    if check is not None:
        css = "ok" if check.passed else "bad"
        body += f'<p class="{css}">{escape(check_sentence(check))}</p>'
    if not body:
        return ""
    return _panel(
        "Check the plan",
        body,
        "Re-run steady at the recommendation, then <code>wsharness report NEW_RUN "
        "--check PLAN_RUN</code>: the objective must hold and the unit costs must "
        "predict the server's CPU within ±15%.",
        wide=True,
    )


def _deliveries_panel(inputs: RunInputs) -> str:
    items = "".join(f"<li>{escape(line)}</li>" for line in delivery_lines(inputs))
    return _panel(
        "Deliveries",
        f"<ul>{items}</ul>",
        "Exact counts from the load client (&lt;prefix&gt;_deliveries.csv, last total "
        "row; per socket in &lt;prefix&gt;_completeness.csv).",
    )


def render_html(
    findings: Findings,
    inputs: RunInputs,
    recheck: list[str] | None = None,
    check: CheckResult | None = None,
) -> str:
    t0 = float(min(row.timestamp for row in inputs.history))
    objective = findings.objective
    names = [n for n in LATENCY_NAMES if any(n in w.latency for w in findings.windows)]
    panels = [
        _plan_panel(findings),
        _steps_panel(findings),
        _recheck_panel(recheck or [], check),
        _deliveries_panel(inputs),
        _sockets_panel(findings, t0),
        *(_latency_panel(findings, name) for name in names),
        _memory_panel(findings),
        _cpu_panel(findings, t0),
        _closes_panel(findings),
        _failures_panel(findings, inputs, t0),
        _windows_table(findings, t0),
        _jaeger_panel(findings),
    ]
    title = f"Capacity report: {inputs.run_dir.name}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{escape(title)}</title><style>{CSS}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="sub">Objective: p99 of <code>{escape(objective.request_name)}</code> ≤
{objective.p99_ms:g} ms and error rate ≤ {objective.error_rate:.2%} per
{objective.window_s} s window · {findings.duration_s} s run ·
{findings.total_requests} requests · {findings.total_failures} failures ·
up to {findings.max_open_sockets:.0f} open sockets</p>
{_cards(findings)}
<div class="findings"><ul>
<li>{escape(measured_on_sentence(inputs, findings.steps))}</li>
<li>{escape(knee_sentence(findings))}</li>
<li>Memory: {escape(memory_sentence(findings))}</li>
<li>{escape(recommendation_sentence(findings))}</li>
{"".join(f'<li class="caveat">{escape(note)}</li>' for note in caveats(findings))}
</ul></div>
<div class="grid">{"".join(panels)}</div>
</main></body></html>
"""
