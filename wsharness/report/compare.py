"""This run against a baseline run: what changed, and whether it is a regression.

``wsharness report RUN --baseline OLD_RUN`` compares, figure by figure, RUN with OLD_RUN
(a stored run of the last release) and adds the result to both pages and to
``report.json`` (its ``comparison`` object).  :func:`compare` is pure: it takes the
two runs as read (:class:`RunView`, built by :func:`load_view`, the one reader); the
renderers return text.

Figures and the noise each change is held against:

- **latency**, per request name in both runs: the whole-run p50 and p99 of
  ``_stats.csv`` are shown; the verdict is on the per-window values (the report's
  windows, Locust's current percentiles at each window's end in
  ``_stats_history.csv``): a regression when this run's windows rank above the
  baseline's by more than the window-to-window spread explains (one-sided
  Mann-Whitney test, ``p < 0.005``: the chance that two runs of one build land this
  far apart) and the window median is worse by more than Locust's resolution (5%: two
  significant digits).  Ranks, not means: one window slowed by a busy machine moves
  neither the verdict nor the median.  Too few windows to reach ``p < 0.005`` (under
  5 per run) is "not judged".
- **failure rate** (failures / requests, all requests): the same, on per-window rates.
- **completeness** (delivered / expected, :func:`completeness_of`: the exact counts
  of ``_deliveries.csv`` when the runs have them, else sequence gaps): noise of two
  proportions (binomial spread of the pooled missing rate), ``Z`` standard errors.
- **memory per socket**: the least-squares slopes' standard errors, combined.
- **unit costs** (``unit_costs`` in both ``report.json``): the two cost fits' standard
  errors, combined (a fit with few or scattered points moves more between runs of one
  build); a report without them gets the plan check's tolerance of 15%.
- **the plan** (recommended connections per instance, sockets within the objective,
  instances for the peak, what bounds them): a tolerance of 15% (the plan check's), as
  it has no window-to-window spread; a plan figure that is a lower bound in either run
  is not judged.  Keys missing from either ``report.json`` are listed as not compared, with
  the reason.

A change is a **regression** when it is worse than the baseline beyond its noise, an
**improvement** when better beyond it, and otherwise **within noise**.  Noise for the
figures without windows: ``Z = 3`` standard errors for completeness, memory and unit
costs (about ten figures are judged at once), ±15% for the plan.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from html import escape
from pathlib import Path
from typing import Any

from wsharness.loadclient.slo import Completeness
from wsharness.report.analysis import Objective, Window, analyse, memory_points
from wsharness.report.deliveries import run_completeness
from wsharness.report.inputs import AGGREGATED, ReportInputError, RunInputs, load_run
from wsharness.report.summary import report_document

Z = 3.0  # standard errors a change must exceed where there are no windows to rank
ALPHA = 0.005  # rank test: the chance of calling an unchanged figure a regression
EXACT_RANK_PAIRS = 400  # exact Mann-Whitney p up to 20 x 20 windows, normal beyond
RESOLUTION = 0.05  # Locust keeps two significant digits: 5% of a figure is noise
TOLERANCE = 0.15  # for figures without a spread (unit costs, the plan)
DELIVER = "deliver"

REGRESSION = "regression"
IMPROVEMENT = "improvement"
WITHIN_NOISE = "within noise"
NOT_JUDGED = "not judged"
SAME = "same"
CHANGED = "changed"

RULE = (
    "a regression is a change worse than the baseline beyond its noise: for latency "
    f"and failures, this run's windows ranked above the baseline's (Mann-Whitney p < "
    f"{ALPHA:g}) with a window median worse by more than {RESOLUTION:.0%}; for memory, "
    f"completeness and unit costs, {Z:g} standard errors; for the plan, "
    f"±{TOLERANCE:.0%}"
)
PLAN_FIGURES = (  # (report.json key, label, higher is worse)
    ("recommended_connections_per_instance", "recommended connections per instance", False),
    ("max_sockets_within_slo", "max sockets within objective", False),
    ("instances_for_peak", "instances for peak", True),
)
PLAN_LABELS = (("recommendation_limited_by", "recommendation limited by"),)
PLAN_LABELS_H4 = (("limited_by", "limited by"),)
UNIT_COST_PREFIX = "cpu_us_per_"


@dataclass(frozen=True)
class RunView:
    """One run as the comparison reads it: its ``report.json``, inputs and windows."""

    name: str
    document: dict[str, Any]
    inputs: RunInputs
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class Figure:
    """One figure of both runs, its change and the verdict."""

    group: str
    name: str
    unit: str
    baseline: float | str | None
    current: float | str | None
    verdict: str
    noise: float | None = None
    basis: str = ""
    windows: tuple[float, float] | None = None  # the window medians judged, if any
    p_value: float | None = None  # rank test of the windows, if judged on them

    @property
    def change(self) -> float | None:
        if isinstance(self.baseline, int | float) and isinstance(self.current, int | float):
            return self.current - self.baseline
        return None

    @property
    def change_pct(self) -> float | None:
        change = self.change
        if (
            change is None
            or not isinstance(self.baseline, int | float)
            or not self.baseline
        ):
            return None
        return 100 * change / abs(self.baseline)


@dataclass(frozen=True)
class Skipped:
    group: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    baseline: str
    current: str
    figures: tuple[Figure, ...]
    skipped: tuple[Skipped, ...]

    @property
    def regressions(self) -> list[Figure]:
        return [f for f in self.figures if f.verdict == REGRESSION]


def load_view(run_dir: Path, objective: Objective) -> RunView:
    """The baseline run: its stored ``report.json`` (else one computed, not written)."""
    try:
        inputs = load_run(Path(run_dir))
        findings = analyse(inputs, objective)
    except ReportInputError as error:
        raise ReportInputError(f"baseline: {error}") from None
    stored = Path(run_dir) / "report.json"
    document = (
        json.loads(stored.read_text())
        if stored.is_file()
        else report_document(findings, inputs)
    )
    return RunView(Path(run_dir).name, document, inputs, findings.windows)


# --- judging --------------------------------------------------------------------


def verdict_of(change: float, noise: float, higher_is_worse: bool) -> str:
    worse = change if higher_is_worse else -change
    if worse > noise:
        return REGRESSION
    if -worse > noise:
        return IMPROVEMENT
    return WITHIN_NOISE


def judged(
    group: str,
    name: str,
    unit: str,
    baseline: float | None,
    current: float | None,
    noise: float | None,
    basis: str,
    higher_is_worse: bool = True,
) -> Figure:
    if baseline is None or current is None:
        missing = "baseline" if baseline is None else "this run"
        return Figure(
            group, name, unit, baseline, current, NOT_JUDGED, None, f"no {missing}"
        )
    if noise is None:
        return Figure(group, name, unit, baseline, current, NOT_JUDGED, None, basis)
    verdict = verdict_of(current - baseline, noise, higher_is_worse)
    return Figure(group, name, unit, baseline, current, verdict, noise, basis)


def judged_on_windows(
    group: str,
    name: str,
    unit: str,
    whole_run: tuple[float | None, float | None],
    windows: tuple[Sequence[float], Sequence[float]],
) -> Figure:
    """Whole-run figures shown; the verdict from the two runs' per-window values.

    A regression when this run's windows rank above the baseline's beyond what chance
    explains (one-sided Mann-Whitney ``p < ALPHA``: the probability that two runs of
    one build spread this far apart) and its window median is worse by more than
    Locust's resolution; an improvement the other way round.
    """
    old, new = whole_run
    if old is None or new is None:
        where = "baseline" if old is None else "this run"
        return Figure(
            group, name, unit, old, new, NOT_JUDGED, None, f"no figure in {where}"
        )
    before, after = windows
    if 1 / math.comb(len(before) + len(after), len(before)) >= ALPHA:
        basis = f"too few windows ({len(before)} and {len(after)}) to rank at p < {ALPHA:g}"
        return Figure(group, name, unit, old, new, NOT_JUDGED, None, basis)
    medians = (statistics.median(before), statistics.median(after))
    floor = RESOLUTION * abs(medians[0])
    change = medians[1] - medians[0]
    p_worse, p_better = rank_p_value(after, before), rank_p_value(before, after)
    verdict, p_value = WITHIN_NOISE, min(p_worse, p_better)
    if p_worse < ALPHA and change > floor:
        verdict, p_value = REGRESSION, p_worse
    elif p_better < ALPHA and -change > floor:
        verdict, p_value = IMPROVEMENT, p_better
    basis = f"window medians, Mann-Whitney over {len(before)}+{len(after)} windows"
    return Figure(group, name, unit, old, new, verdict, None, basis, medians, p_value)


def rank_statistic(higher: Sequence[float], lower: Sequence[float]) -> float:
    """Mann-Whitney U: pairs where ``higher`` beats ``lower`` (a tie counts half)."""
    return sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in higher for y in lower)


def rank_p_value(higher: Sequence[float], lower: Sequence[float]) -> float:
    """One-sided p of U at least as large when both samples come from one distribution.

    Exact (no ties) for small samples, the normal approximation beyond.
    """
    n, m = len(higher), len(lower)
    u = rank_statistic(higher, lower)
    if n * m > EXACT_RANK_PAIRS:
        mean, sd = n * m / 2, math.sqrt(n * m * (n + m + 1) / 12)
        return 0.5 * math.erfc((u - 0.5 - mean) / sd / math.sqrt(2))
    counts = _rank_counts(n, m)
    at_least = sum(c for value, c in enumerate(counts) if value >= math.ceil(u))
    return at_least / math.comb(n + m, n)


def _rank_counts(n: int, m: int) -> list[int]:
    """How many orderings of n and m values give each U = 0 .. n*m (no ties)."""
    # table[j][u]: orderings of i values of one sample and j of the other with U = u
    table = [[1] for _ in range(m + 1)]
    for _ in range(n):
        row = [[1]]
        for j in range(1, m + 1):
            above, left = row[j - 1], table[j]  # last value from the other sample / ours
            width = max(len(above), len(left) + j)
            merged = [0] * width
            for u, c in enumerate(above):
                merged[u] += c
            for u, c in enumerate(left):
                merged[u + j] += c
            row.append(merged)
        table = row
    return table[m]


# --- figures --------------------------------------------------------------------


def _stats_by_name(view: RunView) -> dict[str, Any]:
    return {row.name: row for row in view.inputs.stats}


def _window_values(view: RunView, name: str, field: str) -> list[float]:
    values = []
    for window in view.windows:
        percentiles = window.latency.get(name)
        value = getattr(percentiles, field) if percentiles else None
        if value is not None:
            values.append(float(value))
    return values


def latency_figures(
    baseline: RunView, current: RunView
) -> tuple[list[Figure], list[Skipped]]:
    before, after = _stats_by_name(baseline), _stats_by_name(current)
    figures, skipped = [], []
    for name in sorted((set(before) | set(after)) - {AGGREGATED}):
        if name not in before or name not in after:
            where = "baseline" if name not in before else "this run"
            skipped.append(
                Skipped(f"latency of {name}", f"no '{name}' requests in {where}")
            )
            continue
        for label, stats_field, window_field in (
            ("p50", "median_ms", "p50_ms"),
            ("p99", "p99_ms", "p99_ms"),
        ):
            whole_run = (
                getattr(before[name], stats_field),
                getattr(after[name], stats_field),
            )
            windows = (
                _window_values(baseline, name, window_field),
                _window_values(current, name, window_field),
            )
            figures.append(
                judged_on_windows("latency", f"{name} {label}", "ms", whole_run, windows)
            )
    return figures, skipped


def _failure_rate(view: RunView) -> float | None:
    total = _stats_by_name(view).get(AGGREGATED)
    return total.failures / total.requests if total and total.requests else None


def failure_figure(baseline: RunView, current: RunView) -> Figure:
    rates = [
        [w.error_rate for w in view.windows if w.requests] for view in (baseline, current)
    ]
    whole_run = (_failure_rate(baseline), _failure_rate(current))
    return judged_on_windows(
        "failures", "failure rate", "ratio", whole_run, (rates[0], rates[1])
    )


def completeness_of(inputs: RunInputs) -> Completeness | None:
    """Delivered / expected of one run, from the best count it has (source named).

    The load client's exact counts in ``_deliveries.csv`` (per-socket accounts for
    ``--protocol relay`` and ``socketio``: ``Received Expected / Expected``; else
    ``Delivered / (Delivered + Missing)``), falling back to ``deliver`` successes
    against the sequence-gap failures in ``_failures.csv`` (each gap stands for at
    least one missing message); see :func:`wsharness.report.deliveries.run_completeness`.
    """
    return run_completeness(inputs)


def completeness_figure(baseline: RunView, current: RunView) -> Figure | Skipped:
    old, new = completeness_of(baseline.inputs), completeness_of(current.inputs)
    if old is None or new is None or not old.expected or not new.expected:
        where = "baseline" if old is None or not old.expected else "this run"
        return Skipped("completeness", f"no deliveries in {where}")
    missing = (old.expected - old.delivered) + (new.expected - new.delivered)
    pooled = missing / (old.expected + new.expected)
    error = math.sqrt(pooled * (1 - pooled) * (1 / old.expected + 1 / new.expected))
    basis = f"{Z:g} standard errors of two proportions ({old.source})"
    return judged(
        "completeness",
        "completeness",
        "ratio",
        old.ratio,
        new.ratio,
        Z * error,
        basis,
        higher_is_worse=False,
    )


def slope_standard_error(points: Sequence[tuple[float, float]]) -> float | None:
    """Standard error of the least-squares slope of y on x."""
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if not sxx:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    residuals = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
    return math.sqrt(residuals / (len(points) - 2) / sxx)


def memory_figure(baseline: RunView, current: RunView) -> Figure:
    key = "memory_per_socket_bytes"
    old, new = baseline.document.get(key), current.document.get(key)
    errors = [
        slope_standard_error(memory_points(v.inputs.samples)) for v in (baseline, current)
    ]
    if errors[0] is None or errors[1] is None:
        noise, basis = None, "too few memory scrapes for a standard error"
    else:
        noise = Z * math.hypot(errors[0], errors[1])
        basis = f"{Z:g} standard errors of the two least-squares slopes"
    return judged("memory", "memory per socket", "bytes", old, new, noise, basis)


def _tolerance(value: float | None) -> float | None:
    return None if value is None else TOLERANCE * abs(value)


def unit_cost_figures(
    baseline: RunView, current: RunView
) -> tuple[list[Figure], list[Skipped]]:
    costs = [view.document.get("unit_costs") for view in (baseline, current)]
    if not isinstance(costs[0], dict) or not isinstance(costs[1], dict):
        where = "baseline" if not isinstance(costs[0], dict) else "this run"
        return [], [Skipped("unit costs", f"no unit_costs in the {where}'s report.json")]
    keys = sorted(
        k for k in set(costs[0]) & set(costs[1]) if k.startswith(UNIT_COST_PREFIX)
    )
    figures = [
        judged(
            "unit costs",
            key.removeprefix("cpu_").replace("_per_", " per ").replace("_", " "),
            "µs",
            _number(costs[0][key]),
            _number(costs[1][key]),
            *_unit_cost_noise(key, costs[0], costs[1]),
        )
        for key in keys
    ]
    return figures, []


def _unit_cost_noise(
    key: str, old: dict[str, Any], new: dict[str, Any]
) -> tuple[float | None, str]:
    """How far a unit cost may move between runs of one build: Z standard errors of
    the two fits where both reports give them, else the plan check's tolerance."""
    errors = [
        _number((costs.get("standard_errors") or {}).get(key)) for costs in (old, new)
    ]
    if errors[0] is not None and errors[1] is not None:
        noise = Z * math.hypot(errors[0], errors[1])
        return noise, f"{Z:g} standard errors of the two cost fits"
    basis = f"±{TOLERANCE:.0%} (the plan check's tolerance; the fits give no spread)"
    return _tolerance(_number(old.get(key))), basis


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _lower_bound(document: dict[str, Any]) -> bool:
    return bool(
        document.get("max_sockets_within_slo_is_lower_bound") or document.get("lower_bound")
    )


def plan_figures(baseline: RunView, current: RunView) -> tuple[list[Figure], list[Skipped]]:
    old_doc, new_doc = baseline.document, current.document
    figures: list[Figure] = []
    skipped: list[Skipped] = []
    bounded = [_lower_bound(doc) for doc in (old_doc, new_doc)]
    for key, label, higher_is_worse in PLAN_FIGURES:
        old, new = _number(old_doc.get(key)), _number(new_doc.get(key))
        if key not in old_doc or key not in new_doc:
            skipped.append(Skipped(label, "not in both report.json"))
            continue
        if any(bounded):
            where = " and ".join(
                name for name, b in zip(("baseline", "this run"), bounded, strict=True) if b
            )
            basis = f"a lower bound in {where} (the run never reached the knee)"
            figures.append(Figure("plan", label, "", old, new, NOT_JUDGED, None, basis))
            continue
        basis = f"±{TOLERANCE:.0%} (a knee is resolved only to the load's steps)"
        figures.append(
            judged("plan", label, "", old, new, _tolerance(old), basis, higher_is_worse)
        )
    for key, label in (*PLAN_LABELS, *PLAN_LABELS_H4):
        if key in old_doc and key in new_doc:
            old_text, new_text = str(old_doc[key]), str(new_doc[key])
            verdict = SAME if old_text == new_text else CHANGED
            figures.append(Figure("plan", label, "", old_text, new_text, verdict))
        elif key in old_doc or key in new_doc:
            where = "baseline" if key not in old_doc else "this run"
            skipped.append(Skipped(label, f"not in the {where}'s report.json"))
    measured = "measured_max_sockets"
    if measured in old_doc and measured in new_doc:
        basis = "what the load reached: set by the run's shape, not judged"
        old, new = _number(old_doc[measured]), _number(new_doc[measured])
        figures.append(
            Figure("plan", "measured max sockets", "", old, new, NOT_JUDGED, None, basis)
        )
    if "steps" in old_doc and "steps" in new_doc:
        reason = "judged through what they give (knee, unit costs), not step by step"
        skipped.append(Skipped("capacity steps", reason))
    return figures, skipped


def compare(baseline: RunView, current: RunView) -> Comparison:
    """Every figure of ``current`` against ``baseline``, judged."""
    figures: list[Figure] = []
    skipped: list[Skipped] = []
    for part in (latency_figures, unit_cost_figures, plan_figures):
        found, missing = part(baseline, current)
        figures += found
        skipped += missing
    figures.append(failure_figure(baseline, current))
    completeness = completeness_figure(baseline, current)
    if isinstance(completeness, Skipped):
        skipped.append(completeness)
    else:
        figures.append(completeness)
    figures.append(memory_figure(baseline, current))
    order = ["latency", "failures", "completeness", "memory", "unit costs", "plan"]
    figures.sort(key=lambda f: order.index(f.group))
    return Comparison(baseline.name, current.name, tuple(figures), tuple(skipped))


# --- output ---------------------------------------------------------------------


def comparison_document(comparison: Comparison) -> dict[str, Any]:
    """``report.json``'s ``comparison`` object."""
    return {
        "baseline": comparison.baseline,
        "rule": RULE,
        "regressions": len(comparison.regressions),
        "figures": [
            {
                **{k: v for k, v in asdict(figure).items()},
                "change": _rounded(figure.change),
                "change_pct": _rounded(figure.change_pct),
                "noise": _rounded(figure.noise),
            }
            for figure in comparison.figures
        ],
        "not_compared": [asdict(skip) for skip in comparison.skipped],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def format_value(figure: Figure, value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    formats: dict[str, Callable[[float], str]] = {
        "ms": lambda v: f"{v:.3g} ms" if abs(v) < 10 else f"{v:.0f} ms",
        "ratio": lambda v: f"{v * 100:.3f}%",
        "bytes": lambda v: f"{v / 1024:.1f} KiB",
        "µs": lambda v: f"{v:.3g} µs",
    }
    return formats.get(figure.unit, lambda v: f"{v:g}")(value)


def format_change(figure: Figure) -> str:
    change = figure.change
    if change is None:
        return "—"
    text = format_value(figure, change)
    text = text if text.startswith("-") else f"+{text}"
    pct = figure.change_pct
    return f"{text} ({pct:+.0f}%)" if pct is not None and figure.unit != "ratio" else text


def format_verdict(figure: Figure) -> str:
    marks = {REGRESSION: "🔴", IMPROVEMENT: "🟢", CHANGED: "🟡"}
    text = figure.verdict
    if figure.noise is not None:
        noise = f"noise ±{format_value(figure, figure.noise)}"
        text += f" ({noise})"
    elif figure.windows is not None and figure.p_value is not None:
        old, new = (format_value(figure, value) for value in figure.windows)
        text += f" (window medians {old} → {new}, p = {figure.p_value:.2g})"
    elif figure.verdict == NOT_JUDGED and figure.basis:
        text += f": {figure.basis}"
    mark = marks.get(figure.verdict)
    return f"{mark} {text}" if mark else text


def headline(comparison: Comparison) -> str:
    regressions = comparison.regressions
    if not regressions:
        return (
            "No regression: every change is within what the two runs' own spread explains."
        )
    named = ", ".join(f"{f.name} {format_change(f)}" for f in regressions)
    return f"{len(regressions)} regression(s): {named}."


def render_markdown(comparison: Comparison) -> str:
    """The comparison section of ``report.md`` (fits a pull-request comment)."""
    lines = [
        f"### Against baseline `{comparison.baseline}`",
        "",
        f"**{headline(comparison)}**",
        "",
        "| figure | baseline | this run | change | verdict |",
        "|---|---|---|---|---|",
    ]
    for figure in comparison.figures:
        lines.append(
            f"| {figure.name} | {format_value(figure, figure.baseline)} | "
            f"{format_value(figure, figure.current)} | {format_change(figure)} | "
            f"{format_verdict(figure)} |"
        )
    if comparison.skipped:
        lines += [
            "",
            f"<details><summary>Not compared ({len(comparison.skipped)})</summary>",
        ]
        lines += ["", *(f"- {s.group}: {s.reason}" for s in comparison.skipped)]
        lines += ["", "</details>"]
    lines += [
        "",
        RULE[0].upper() + RULE[1:] + ".",
        "",
    ]
    return "\n".join(lines)


def render_html_section(comparison: Comparison) -> str:
    """The comparison as a ``<section>`` for ``report.html``."""
    rows = "".join(
        f'<tr class="{_row_class(f)}"><td>{escape(f.name)}</td>'
        f'<td class="num">{escape(format_value(f, f.baseline))}</td>'
        f'<td class="num">{escape(format_value(f, f.current))}</td>'
        f'<td class="num">{escape(format_change(f))}</td>'
        f"<td>{escape(format_verdict(f))}</td></tr>"
        for f in comparison.figures
    )
    skipped = "".join(
        f"<li>{escape(s.group)}: {escape(s.reason)}</li>" for s in comparison.skipped
    )
    return (
        f'<section class="panel wide" id="comparison"><h2>Against baseline '
        f"<code>{escape(comparison.baseline)}</code></h2>"
        f"<p><strong>{escape(headline(comparison))}</strong></p>"
        '<table><tr><th>figure</th><th class="num">baseline</th>'
        '<th class="num">this run</th><th class="num">change</th><th>verdict</th></tr>'
        f"{rows}</table>"
        + (f"<p>Not compared:</p><ul>{skipped}</ul>" if skipped else "")
        + "</section>"
    )


def _row_class(figure: Figure) -> str:
    return {REGRESSION: "bad", IMPROVEMENT: "ok"}.get(figure.verdict, "")


def insert_html(page: str, comparison: Comparison) -> str:
    """``report.html`` with the comparison section before the end of its main part."""
    section = render_html_section(comparison)
    marker = "</main>"
    if marker in page:
        return page.replace(marker, section + marker, 1)
    return page.replace("</body>", section + "</body>", 1)


def regression_lines(comparison: Comparison) -> Iterable[str]:
    for figure in comparison.regressions:
        yield (
            f"regression: {figure.name} {format_value(figure, figure.baseline)} -> "
            f"{format_value(figure, figure.current)} ({format_change(figure)}; noise "
            f"±{format_value(figure, figure.noise)})"
        )
