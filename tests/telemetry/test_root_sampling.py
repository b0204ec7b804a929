"""The root gate decides exactly what the SDK's ratio sampler would, only cheaper."""

from __future__ import annotations

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased

from telemetry.root_sampling import ReservingIdGenerator, RootGate, root_bound_from_env

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
