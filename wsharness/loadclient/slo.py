"""Service-level objectives that decide a run: parsed from ``--slo``, judged at the end.

Pure (no Locust, no I/O): :func:`parse_objective` turns one ``--slo`` value into an
:class:`Objective` or raises :class:`ObjectiveError` with a one-line message, and
:func:`evaluate` judges objectives against a :class:`Measurements` view of the run's
statistics.  The Locust hook (:mod:`wsharness.loadclient.slo_hook`) supplies that view
from the master's (or the standalone process's) statistics.

Grammar (spaces allowed around the comparison)::

    [REQUEST ":"] METRIC OP VALUE UNIT
    METRIC  p50 | p95 | p99 | p99.9 | pNN | max     latency; UNIT us, ms or s
            errors                                 failures / requests; UNIT %
            completeness                           delivered / expected; UNIT %
    OP      < | <= | > | >=

``deliver:p99<250ms``, ``connect:p95<500ms``, ``errors<0.1%`` (all requests),
``deliver:errors<1%``, ``completeness>99.9%``.  A latency objective needs a request
name; ``completeness`` takes none.  An objective whose figure was never measured (no
such request in the run) fails: nothing shows that it held.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

EXIT_CODE_OBJECTIVE_FAILED = 3
"""Process exit code when an objective failed (Locust's own --exit-code-on-error is 1)."""
EXIT_CODE_BAD_OBJECTIVE = 2
"""Process exit code when an ``--slo`` value cannot be parsed (refused at start)."""

ERRORS = "errors"
COMPLETENESS = "completeness"
MAX = "max"
LATENCY_UNITS_MS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_PATTERN = re.compile(
    r"^\s*(?:(?P<request>.+?)\s*:\s*)?"
    r"(?P<metric>[A-Za-z][A-Za-z0-9.]*)\s*"
    r"(?P<op><=|>=|<|>)\s*"
    r"(?P<value>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*"
    r"(?P<unit>[A-Za-zµ%]*)\s*$"
)
_PERCENTILE = re.compile(r"^p(?P<percent>[0-9]+(?:\.[0-9]+)?)$")


class ObjectiveError(ValueError):
    """An ``--slo`` value that is not an objective; the message says why, in one line."""


@dataclass(frozen=True)
class Objective:
    """One objective: ``metric`` of ``request`` (None = all requests) ``op`` ``limit``.

    ``limit`` is in milliseconds for latency metrics and a fraction (0..1) for
    ``errors`` and ``completeness``; ``text`` is the objective as the user wrote it.
    """

    text: str
    request: str | None
    metric: str
    op: str
    limit: float

    @property
    def is_latency(self) -> bool:
        return self.metric not in (ERRORS, COMPLETENESS)

    @property
    def quantile(self) -> float | None:
        """0..1 for a percentile metric, None for max, errors and completeness."""
        match = _PERCENTILE.match(self.metric)
        return float(match["percent"]) / 100 if match else None

    def holds(self, measured: float) -> bool:
        return COMPARISONS[self.op](measured, self.limit)


@dataclass(frozen=True)
class Completeness:
    """Delivered against expected messages, and where the counts came from."""

    delivered: int
    expected: int
    source: str

    @property
    def ratio(self) -> float | None:
        return self.delivered / self.expected if self.expected else None


class Measurements(Protocol):
    """The run's figures an objective is judged on (from Locust's statistics)."""

    def requests(self, request: str | None) -> int:
        """Requests of that name (None = all), failures included."""
        ...

    def failures(self, request: str | None) -> int: ...

    def percentile_ms(self, request: str, quantile: float) -> float | None: ...

    def max_ms(self, request: str) -> float | None: ...

    def completeness(self) -> Completeness | None: ...


@dataclass(frozen=True)
class Verdict:
    """One objective judged: the measured figure (None = never measured)."""

    objective: Objective
    measured: float | None
    passed: bool
    note: str = ""

    @property
    def measured_text(self) -> str:
        if self.measured is None:
            return self.note or "not measured"
        text = format_value(self.objective, self.measured)
        return f"{text} ({self.note})" if self.note else text


def parse_objective(text: str) -> Objective:
    """One ``--slo`` value -> :class:`Objective`; :class:`ObjectiveError` if malformed."""
    match = _PATTERN.match(text)
    if match is None:
        raise ObjectiveError(
            f"--slo {text!r}: expected [REQUEST:]METRIC OP VALUE UNIT, "
            "e.g. 'deliver:p99<250ms', 'errors<0.1%', 'completeness>99.9%'"
        )
    request, metric, op = match["request"], match["metric"].lower(), match["op"]
    value, unit = float(match["value"]), match["unit"]
    if metric in (ERRORS, COMPLETENESS):
        return _ratio_objective(text, request, metric, op, value, unit)
    if metric != MAX and not _valid_percentile(metric):
        raise ObjectiveError(
            f"--slo {text!r}: unknown metric {match['metric']!r}; use p50, p95, p99, "
            "pNN, max, errors or completeness"
        )
    if not request:
        raise ObjectiveError(
            f"--slo {text!r}: a latency objective needs a request name, "
            f"e.g. 'deliver:{metric}{op}{match['value']}{unit or 'ms'}'"
        )
    if unit not in LATENCY_UNITS_MS:
        raise ObjectiveError(
            f"--slo {text!r}: latency needs a unit (us, ms or s), got {unit or 'none'!r}"
        )
    limit = _exact(value * LATENCY_UNITS_MS[unit])
    return Objective(text.strip(), request, metric, op, limit)


def _exact(value: float) -> float:
    """``value`` without the binary noise of a unit conversion (99.9 / 100 == 0.999)."""
    return float(f"{value:.12g}")


def _valid_percentile(metric: str) -> bool:
    match = _PERCENTILE.match(metric)
    return match is not None and 0 < float(match["percent"]) <= 100


def _ratio_objective(
    text: str, request: str | None, metric: str, op: str, value: float, unit: str
) -> Objective:
    if unit != "%":
        raise ObjectiveError(f"--slo {text!r}: {metric} is a percentage: write e.g. 0.1%")
    if value > 100:
        raise ObjectiveError(f"--slo {text!r}: {metric} cannot exceed 100%")
    if metric == COMPLETENESS and request:
        raise ObjectiveError(
            f"--slo {text!r}: completeness covers every delivery; drop {request!r}:"
        )
    return Objective(text.strip(), request or None, metric, op, _exact(value / 100))


def parse_objectives(texts: Iterable[str] | None) -> list[Objective]:
    """Every ``--slo`` value parsed, in order; the first malformed one raises."""
    return [parse_objective(text) for text in texts or ()]


def measure(objective: Objective, stats: Measurements) -> tuple[float | None, str]:
    """The figure ``objective`` is judged on, or None with the reason it is missing."""
    if objective.metric == COMPLETENESS:
        completeness = stats.completeness()
        if completeness is None or completeness.ratio is None:
            return None, "no deliveries"
        note = f"{completeness.delivered}/{completeness.expected}, {completeness.source}"
        return completeness.ratio, note
    requests = stats.requests(objective.request)
    if not requests:
        named = f"'{objective.request}' " if objective.request else ""
        return None, f"no {named}requests"
    if objective.metric == ERRORS:
        failures = stats.failures(objective.request)
        return failures / requests, f"{failures}/{requests}"
    assert objective.request is not None  # parse_objective requires it for latency
    quantile = objective.quantile
    if quantile is None:
        value = stats.max_ms(objective.request)
    else:
        value = stats.percentile_ms(objective.request, quantile)
    return value, "" if value is not None else "no timed requests"


def evaluate(objectives: Sequence[Objective], stats: Measurements) -> list[Verdict]:
    """Judge every objective; one never measured fails."""
    verdicts = []
    for objective in objectives:
        measured, note = measure(objective, stats)
        passed = measured is not None and objective.holds(measured)
        verdicts.append(Verdict(objective, measured, passed, note))
    return verdicts


def exit_code(verdicts: Sequence[Verdict]) -> int | None:
    """:data:`EXIT_CODE_OBJECTIVE_FAILED` if any objective failed, else None."""
    return EXIT_CODE_OBJECTIVE_FAILED if any(not v.passed for v in verdicts) else None


def format_value(objective: Objective, value: float) -> str:
    if objective.is_latency:
        return f"{value:.3g} ms" if value < 1 else f"{value:.4g} ms"
    return f"{value * 100:.4g}%"


def table(verdicts: Sequence[Verdict]) -> list[str]:
    """The verdicts as aligned text lines (objective, measured, result)."""
    rows = [("objective", "measured", "result")]
    rows += [(v.objective.text, v.measured_text, _result(v)) for v in verdicts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return [line.rstrip() for line in lines]


def _result(verdict: Verdict) -> str:
    return "pass" if verdict.passed else "FAIL"


def summary(verdicts: Sequence[Verdict]) -> str:
    """One line: every objective held, or which failed and the exit code."""
    failed = [v for v in verdicts if not v.passed]
    if not failed:
        return f"wsharness: all {len(verdicts)} objective(s) held"
    named = "; ".join(f"{v.objective.text} (measured {v.measured_text})" for v in failed)
    return (
        f"wsharness: {len(failed)} of {len(verdicts)} objective(s) failed: {named}; "
        f"exit code {EXIT_CODE_OBJECTIVE_FAILED}"
    )


CSV_HEADER = ("Objective", "Request", "Metric", "Comparison", "Limit", "Measured", "Result")


def csv_rows(verdicts: Sequence[Verdict]) -> list[tuple[str, ...]]:
    """Rows of ``<csv prefix>_slo.csv``: limits and measurements in ms or fractions."""
    rows: list[tuple[str, ...]] = [CSV_HEADER]
    for verdict in verdicts:
        objective = verdict.objective
        rows.append(
            (
                objective.text,
                objective.request or "",
                objective.metric,
                objective.op,
                f"{objective.limit:g}",
                "" if verdict.measured is None else f"{verdict.measured:g}",
                "pass" if verdict.passed else "fail",
            )
        )
    return rows


# --- completeness from what the suite counts today ------------------------------

GAP_MARKER = "gap: missing sequence number"


def completeness_from_counts(deliveries: int, gaps: int) -> Completeness | None:
    """Completeness from ``deliver`` successes and the sequence gaps the receivers saw.

    Each gap failure (:mod:`wsharness.loadclient.sequence`) stands for at least one
    missing message, so ``expected = delivered + gaps`` and the ratio is an upper
    bound on the true completeness until exact delivery counts replace it.
    """
    if deliveries + gaps <= 0:
        return None
    return Completeness(deliveries, deliveries + gaps, "from sequence gaps")
