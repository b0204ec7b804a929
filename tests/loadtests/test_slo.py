"""wsharness.loadclient.slo: objectives parsed, refused with a reason, and judged."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wsharness.loadclient import slo


@dataclass
class FakeRequest:
    requests: int
    failures: int = 0
    percentiles: dict[float, float] = field(default_factory=dict)
    max_ms: float | None = None


@dataclass
class Figures:
    """A :class:`slo.Measurements` from plain numbers."""

    by_name: dict[str, FakeRequest]
    delivered: slo.Completeness | None = None

    def requests(self, request: str | None) -> int:
        if request is None:
            return sum(r.requests for r in self.by_name.values())
        return self.by_name[request].requests if request in self.by_name else 0

    def failures(self, request: str | None) -> int:
        if request is None:
            return sum(r.failures for r in self.by_name.values())
        return self.by_name[request].failures

    def percentile_ms(self, request: str, quantile: float) -> float | None:
        return self.by_name[request].percentiles.get(quantile)

    def max_ms(self, request: str) -> float | None:
        return self.by_name[request].max_ms

    def completeness(self) -> slo.Completeness | None:
        return self.delivered


@pytest.mark.parametrize(
    ("text", "request_name", "metric", "op", "limit"),
    [
        ("deliver:p99<250ms", "deliver", "p99", "<", 250.0),
        ("connect:p95<500ms", "connect", "p95", "<", 500.0),
        ("connect : p50 <= 0.5s", "connect", "p50", "<=", 500.0),
        ("echo:p99.9<800us", "echo", "p99.9", "<", 0.8),
        ("echo:max<2s", "echo", "max", "<", 2000.0),
        ("errors<0.1%", None, "errors", "<", 0.001),
        ("deliver:errors<=1%", "deliver", "errors", "<=", 0.01),
        ("completeness>99.9%", None, "completeness", ">", 0.999),
        ("my:odd:name:p99<1ms", "my:odd:name", "p99", "<", 1.0),
    ],
)
def test_objectives_of_the_documented_forms_parse(
    text: str, request_name: str | None, metric: str, op: str, limit: float
) -> None:
    objective = slo.parse_objective(text)
    assert (objective.request, objective.metric, objective.op) == (request_name, metric, op)
    assert objective.limit == pytest.approx(limit)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("deliver p99 250ms", "expected [REQUEST:]METRIC OP VALUE UNIT"),
        ("deliver:p99<250", "latency needs a unit (us, ms or s), got 'none'"),
        ("deliver:p99<250min", "latency needs a unit (us, ms or s), got 'min'"),
        ("p99<250ms", "a latency objective needs a request name"),
        ("deliver:p0<1ms", "unknown metric 'p0'"),
        ("deliver:p101<1ms", "unknown metric 'p101'"),
        ("deliver:mean<1ms", "unknown metric 'mean'"),
        ("errors<0.001", "errors is a percentage"),
        ("completeness>101%", "cannot exceed 100%"),
        ("deliver:completeness>99%", "completeness covers every delivery"),
        ("", "expected [REQUEST:]METRIC"),
    ],
)
def test_a_malformed_objective_is_refused_in_one_line_saying_why(
    text: str, reason: str
) -> None:
    with pytest.raises(slo.ObjectiveError) as raised:
        slo.parse_objective(text)
    message = str(raised.value)
    assert reason in message
    assert repr(text) in message
    assert "\n" not in message


def test_objectives_are_judged_against_the_measured_figures() -> None:
    figures = Figures(
        {
            "deliver": FakeRequest(1000, 2, {0.99: 180.0, 0.5: 12.0}, max_ms=900.0),
            "connect": FakeRequest(100, 0, {0.95: 600.0}),
        },
        slo.Completeness(9990, 10_000, "test"),
    )
    texts = [
        "deliver:p99<250ms",  # 180 ms: holds
        "connect:p95<500ms",  # 600 ms: fails
        "errors<0.1%",  # 2/1100 = 0.18%: fails
        "deliver:errors<=0.2%",  # 2/1000 = 0.2%: holds (<=)
        "deliver:max<1s",  # 900 ms: holds
        "completeness>99.9%",  # 99.9% is not > 99.9%: fails
        "completeness>=99.9%",  # holds
    ]
    verdicts = slo.evaluate(slo.parse_objectives(texts), figures)
    assert [v.passed for v in verdicts] == [True, False, False, True, True, False, True]
    assert verdicts[2].measured == pytest.approx(2 / 1100)
    assert slo.exit_code(verdicts) == slo.EXIT_CODE_OBJECTIVE_FAILED == 3
    summary = slo.summary(verdicts)
    assert "3 of 7 objective(s) failed" in summary
    assert "connect:p95<500ms (measured 600 ms)" in summary
    assert "deliver:p99<250ms" not in summary


def test_all_objectives_holding_leave_the_exit_code_to_locust() -> None:
    figures = Figures({"deliver": FakeRequest(10, 0, {0.99: 1.0})})
    verdicts = slo.evaluate([slo.parse_objective("deliver:p99<250ms")], figures)
    assert slo.exit_code(verdicts) is None
    assert slo.summary(verdicts) == "wsharness: all 1 objective(s) held"


def test_an_objective_on_something_never_measured_fails() -> None:
    figures = Figures({"deliver": FakeRequest(10, 0, {})})
    objectives = slo.parse_objectives(
        ["echo:p99<1s", "deliver:p99<1s", "completeness>1%", "errors<1%"]
    )
    verdicts = slo.evaluate(objectives, figures)
    assert [v.passed for v in verdicts] == [False, False, False, True]
    assert [v.measured_text for v in verdicts[:3]] == [
        "no 'echo' requests",
        "no timed requests",
        "no deliveries",
    ]


def test_the_table_and_csv_name_each_objective_with_its_result() -> None:
    figures = Figures({"deliver": FakeRequest(10, 0, {0.99: 3.0})})
    objectives = slo.parse_objectives(["deliver:p99<0.001ms", "deliver:p99<1s"])
    verdicts = slo.evaluate(objectives, figures)
    lines = slo.table(verdicts)
    assert lines[0].split(" | ") == ["objective          ", "measured", "result"]
    assert lines[2].startswith("deliver:p99<0.001ms | 3 ms")
    assert lines[2].endswith("FAIL")
    assert lines[3].endswith("pass")
    rows = slo.csv_rows(verdicts)
    assert rows[0] == slo.CSV_HEADER
    assert rows[1] == ("deliver:p99<0.001ms", "deliver", "p99", "<", "0.001", "3", "fail")


def test_completeness_counts_each_gap_as_a_missing_message() -> None:
    completeness = slo.completeness_from_counts(deliveries=998, gaps=2)
    assert completeness is not None
    assert (completeness.delivered, completeness.expected) == (998, 1000)
    assert completeness.ratio == pytest.approx(0.998)
    assert slo.completeness_from_counts(0, 0) is None
