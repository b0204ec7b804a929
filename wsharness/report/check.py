"""A plan you can check: re-run at the recommendation, then compare (pure functions).

``wsharness report NEW_RUN --check PLAN_RUN`` judges NEW_RUN (a steady run at
PLAN_RUN's recommendation, e.g. the command :func:`recheck_commands` prints) against
PLAN_RUN's ``report.json``:

- *objective held*: every step (or window) of NEW_RUN that held at least 95% of the
  recommended sockets is within the objective, and none of them is generator-bound
  (a generator-bound step cannot show the server held);
- *unit costs agree*: PLAN_RUN's unit costs, applied to the work NEW_RUN's server did
  in those steps (sockets, deliveries/s, handshakes/s, inbound frames/s), predict its
  measured CPU within ±15%.

The check passes when the run reached the recommendation and both hold.  A checked
step in which other processes took more than
:data:`~wsharness.report.steps.BUSY_MACHINE_CORES` of the machine (``machine.csv``)
measured the server's CPU on a busier machine than the plan's: the costs cannot be
compared, and the check says so instead of saying the plan did not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsharness.report.costs import UnitCosts
from wsharness.report.steps import BUSY_MACHINE_CORES, Step

TOLERANCE = 0.15
REACHED_SHARE = 0.95
RECHECK_HOLD_S = 180


@dataclass(frozen=True)
class CheckedStep:
    index: int
    open_sockets: float
    within_objective: bool
    generator_bound: bool
    reason: str
    measured_cores: float | None
    predicted_cores: float
    other_cores: float | None = None  # other processes' CPU on the machine
    busy_machine: bool = False  # they took more than BUSY_MACHINE_CORES


@dataclass(frozen=True)
class CheckResult:
    plan_run: str
    recommendation: int
    steps: tuple[CheckedStep, ...]
    reached: bool
    objective_held: bool
    cpu_ratio: float | None  # measured / predicted CPU over the checked steps
    costs_agree: bool
    reasons: tuple[str, ...]
    busy_machine: bool = False  # other processes' CPU spoilt the cost comparison

    @property
    def passed(self) -> bool:
        return self.reached and self.objective_held and self.costs_agree


def plan_costs(plan_report: dict[str, Any]) -> UnitCosts | None:
    costs = plan_report.get("unit_costs") or {}
    keys = (
        "cpu_us_per_socket_second",
        "cpu_us_per_delivery",
        "cpu_us_per_handshake",
        "cpu_us_per_inbound_frame",
    )
    if costs.get("r_squared") is None:
        return None

    def cost(key: str) -> float | None:
        return None if costs.get(key) is None else float(costs[key])

    return UnitCosts(
        cpu_us_per_socket_second=cost(keys[0]),
        cpu_us_per_delivery=cost(keys[1]),
        cpu_us_per_handshake=cost(keys[2]),
        cpu_us_per_inbound_frame=cost(keys[3]),
        r_squared=float(costs["r_squared"]),
        points=(),
    )


def _checked(step: Step, costs: UnitCosts | None) -> CheckedStep:
    load = step.load
    predicted = costs.cores(*load.work()) if costs is not None else 0.0
    return CheckedStep(
        step.span.index,
        load.open_sockets,
        step.within_objective,
        step.generator_bound,
        step.reason,
        load.cpu_cores,
        predicted,
        step.other_cores,
        step.busy_machine,
    )


def check_against(
    steps: Sequence[Step], plan_report: dict[str, Any], plan_run: str
) -> CheckResult:
    """Judge a run's steps against the plan in ``plan_report`` (a ``report.json``)."""
    recommendation = int(plan_report.get("recommended_connections_per_instance") or 0)
    costs = plan_costs(plan_report)
    held = [s for s in steps if s.open_sockets >= REACHED_SHARE * recommendation]
    checked = tuple(_checked(s, costs) for s in held)
    reasons = []
    reached = recommendation > 0 and bool(checked)
    if recommendation <= 0:
        reasons.append(f"{plan_run} recommends no sockets per instance: nothing to check")
    elif not checked:
        most = max((s.open_sockets for s in steps), default=0.0)
        reasons.append(f"the run never held {recommendation} sockets (at most {most:.0f})")
    broken = [c for c in checked if not c.within_objective]
    starved = [c for c in checked if c.generator_bound]
    objective_held = reached and not broken and not starved
    reasons += [
        f"objective broken at {c.open_sockets:.0f} sockets: {c.reason}" for c in broken
    ]
    reasons += [f"generator-bound at {c.open_sockets:.0f} sockets" for c in starved]
    measured = [c.measured_cores for c in checked if c.measured_cores is not None]
    predicted = sum(c.predicted_cores for c in checked if c.measured_cores is not None)
    ratio = sum(measured) / predicted if measured and predicted > 0 else None
    busy = [c.other_cores or 0.0 for c in checked if c.busy_machine]
    costs_agree = ratio is not None and abs(ratio - 1) <= TOLERANCE and not busy
    if busy:
        reasons.append(
            f"other processes took up to {max(busy):.2f} cores of the machine during the "
            f"check (more than {BUSY_MACHINE_CORES}): the server's CPU cannot be compared "
            "with the plan's; re-run the check on a quiet machine"
        )
    elif costs is None:
        reasons.append(f"{plan_run} has no unit costs")
    elif ratio is None and reached:
        reasons.append("no server CPU measured at the recommendation")
    elif ratio is not None and not costs_agree:
        reasons.append(
            f"server CPU {ratio - 1:+.0%} against the plan's unit costs "
            f"(allowed ±{TOLERANCE:.0%})"
        )
    return CheckResult(
        plan_run,
        recommendation,
        checked,
        reached,
        objective_held,
        ratio,
        costs_agree,
        tuple(reasons),
        bool(busy),
    )


def recheck_commands(
    run_dir: Path, run_info: dict[str, Any], recommendation: int
) -> list[str]:
    """The commands that re-run at the recommendation, steady, and check the plan."""
    if recommendation <= 0:
        return []
    if run_info.get("runner") == "demo":
        return [f"python -m wsharness.demo --check {run_dir}"]
    return [
        "locust -f loadtests/ --headless --host HOST --shape capacity "
        f"--capacity-steps {recommendation} --step-seconds {RECHECK_HOLD_S} "
        "--csv NEW_RUN/locust --csv-full-history   # sample the server into NEW_RUN too",
        f"wsharness report NEW_RUN --check {run_dir}",
    ]


def check_document(result: CheckResult) -> dict[str, Any]:
    return {
        "plan_run": result.plan_run,
        "recommendation": result.recommendation,
        "reached": result.reached,
        "objective_held": result.objective_held,
        "cpu_measured_over_predicted": None
        if result.cpu_ratio is None
        else round(result.cpu_ratio, 4),
        "tolerance": TOLERANCE,
        "unit_costs_agree": result.costs_agree,
        "busy_machine": result.busy_machine,
        "passed": result.passed,
        "reasons": list(result.reasons),
        "steps": [
            {
                "index": c.index,
                "open_sockets": round(c.open_sockets, 1),
                "within_objective": c.within_objective,
                "generator_bound": c.generator_bound,
                "measured_cpu_cores": None
                if c.measured_cores is None
                else round(c.measured_cores, 4),
                "predicted_cpu_cores": round(c.predicted_cores, 4),
                "other_cpu_cores": None
                if c.other_cores is None
                else round(c.other_cores, 4),
            }
            for c in result.steps
        ],
    }


def check_sentence(result: CheckResult) -> str:
    verdict = "The plan held" if result.passed else "The plan did not hold"
    if result.busy_machine and result.objective_held:
        verdict = "The plan could not be checked"
    parts = [f"{verdict} at {result.recommendation} sockets ({result.plan_run})"]
    if result.reached:
        parts.append("objective held" if result.objective_held else "objective not held")
    if result.cpu_ratio is not None and not result.busy_machine:
        parts.append(
            f"server CPU {result.cpu_ratio - 1:+.0%} against the plan's unit costs "
            f"({'within' if result.costs_agree else 'beyond'} ±{TOLERANCE:.0%})"
        )
    text = "; ".join(parts) + "."
    if result.reasons:
        text += " " + "; ".join(result.reasons) + "."
    return text
