"""The root gate decides exactly what the SDK's ratio sampler would, only cheaper,
and keeps at most its budget of roots a second."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased

from wsharness.telemetry.root_sampling import (
    RateLimit,
    ReservingIdGenerator,
    RootGate,
    drops_root,
    install,
    observe_rate_limited,
    root_bound_from_env,
)

RATE = 0.25
ROOTS = 2000


def test_gate_and_sdk_agree_on_every_root_and_keep_the_configured_share() -> None:
    ids = ReservingIdGenerator()
    sampler = ParentBased(TraceIdRatioBased(RATE))
    tracer = TracerProvider(sampler=sampler, id_generator=ids).get_tracer("t")
    gate = RootGate(TraceIdRatioBased.get_bound_for_rate(RATE), ids)
    kept = 0
    for _ in range(ROOTS):
        unsampled = gate.unsampled_context()
        if unsampled is None:
            span = tracer.start_span("root", context=otel_context.Context())
            assert span.is_recording(), "the gate kept a root the SDK then dropped"
            kept += 1
            continue
        dropped = trace.get_current_span(unsampled).get_span_context()
        assert not dropped.trace_flags.sampled
        verdict = sampler.should_sample(otel_context.Context(), dropped.trace_id, "root")
        assert verdict.decision is Decision.DROP, "the gate dropped a root the SDK keeps"
    assert abs(kept / ROOTS - RATE) < 0.05


@pytest.mark.parametrize(
    ("sampler", "arg", "expected"),
    [
        ("parentbased_traceidratio", "0.1", TraceIdRatioBased.get_bound_for_rate(0.1)),
        ("traceidratio", "1", TraceIdRatioBased.get_bound_for_rate(1.0)),
        ("always_off", "", 0),
        ("parentbased_always_on", "", None),
        ("parentbased_traceidratio", "not-a-number", None),
        ("traceidratio", "2", None),
    ],
)
def test_bound_follows_the_sdk_reading_of_the_env(
    monkeypatch: pytest.MonkeyPatch, sampler: str, arg: str, expected: int | None
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", arg)
    assert root_bound_from_env() == expected


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_admits_a_seconds_worth_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    limit = RateLimit(5, clock)
    assert sum(limit.admit() for _ in range(20)) == 5
    clock.now += 0.4  # two more tokens
    assert sum(limit.admit() for _ in range(20)) == 2
    clock.now += 60  # a long pause refills only up to the burst
    assert sum(limit.admit() for _ in range(20)) == 5
    assert limit.refused == 15 + 18 + 15


def test_a_limited_gate_records_at_most_its_budget_and_counts_the_rest() -> None:
    ids = ReservingIdGenerator()
    tracer = TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0)), id_generator=ids)
    clock = FakeClock()
    gate = RootGate(TraceIdRatioBased.get_bound_for_rate(1.0), ids, RateLimit(10, clock))
    install(gate)
    try:
        recorded = 0
        for _ in range(ROOTS):
            unsampled = gate.unsampled_context()
            if unsampled is None:
                span = tracer.get_tracer("t").start_span(
                    "root", context=otel_context.Context()
                )
                recorded += span.is_recording()
            else:
                dropped = trace.get_current_span(unsampled).get_span_context()
                assert not dropped.trace_flags.sampled
        assert recorded == 10
        clock.now += 1.0
        assert sum(not drops_root() for _ in range(ROOTS)) == 10
        (observation,) = observe_rate_limited(None)  # type: ignore[arg-type]
        assert observation.value == 2 * (ROOTS - 10)
    finally:
        install(None)
