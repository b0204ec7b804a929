"""The release gate: ``wsharness report RUN --fail-on slo|regression`` as an exit code.

- ``slo``: the run's ``<csv prefix>_slo.csv`` (written by ``locust --slo``) has an
  objective that failed -> exit 3, the same code Locust's run exited with.  A run
  without that file cannot pass this gate: exit 2 and say so.
- ``regression``: the ``comparison`` in ``report.json`` (``--baseline``) holds a
  figure judged a regression -> exit 4.

``judge`` is pure over the report document and the rows of ``_slo.csv``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wsharness.loadclient.slo import EXIT_CODE_OBJECTIVE_FAILED

FAIL_ON = ("slo", "regression")
EXIT_CODE_REGRESSION = 4
EXIT_CODE_CANNOT_JUDGE = 2
SLO_SUFFIX = "_slo.csv"


def slo_rows(run_dir: Path, prefix: str) -> list[dict[str, str]] | None:
    """The rows of the run's ``_slo.csv``, None when the run has none."""
    path = Path(run_dir) / f"{prefix}{SLO_SUFFIX}"
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def judge(
    fail_on: Sequence[str],
    document: dict[str, Any],
    slo: list[dict[str, str]] | None,
    prefix: str,
) -> tuple[int, list[str]]:
    """The exit code and the lines saying why (code 0 and no line when it passes)."""
    lines: list[str] = []
    code = 0
    if "slo" in fail_on:
        if slo is None:
            lines.append(f"no {prefix}{SLO_SUFFIX}: run locust with --slo to gate on it")
            code = EXIT_CODE_CANNOT_JUDGE
        else:
            failed = [row["Objective"] for row in slo if row.get("Result") != "pass"]
            lines += [f"objective failed: {objective}" for objective in failed]
            code = EXIT_CODE_OBJECTIVE_FAILED if failed else code
    if "regression" in fail_on:
        comparison = document.get("comparison")
        if comparison is None:
            lines.append("--fail-on regression needs --baseline OLD_RUN")
            code = code or EXIT_CODE_CANNOT_JUDGE
        else:
            regressed = [f for f in comparison["figures"] if f["verdict"] == "regression"]
            lines += [_regression_line(figure) for figure in regressed]
            if regressed and not code:
                code = EXIT_CODE_REGRESSION
    return code, lines


def judge_run(
    fail_on: Sequence[str], document: dict[str, Any], run_dir: Path
) -> tuple[int, list[str]]:
    """:func:`judge` for the run in ``run_dir`` (reads its ``_slo.csv``)."""
    prefix = document["inputs"]["locust_csv_prefix"]
    return judge(fail_on, document, slo_rows(run_dir, prefix), prefix)


def _regression_line(figure: dict[str, Any]) -> str:
    unit = f" {figure['unit']}" if figure.get("unit") not in ("", "ratio", None) else ""
    if figure.get("p_value") is not None:
        why = f"windows ranked worse, p = {figure['p_value']:.2g}"
    else:
        why = f"noise ±{figure['noise']:g}"
    return (
        f"regression: {figure['name']} {figure['baseline']:g} -> {figure['current']:g}"
        f"{unit} (change {figure['change']:+g}; {why})"
    )
