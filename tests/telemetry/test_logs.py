"""Log lines carry the trace and span ids of the span current where they are made."""

from __future__ import annotations

import io
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from wsharness.telemetry.logs import NO_SPAN_ID, NO_TRACE_ID, correlated_handler


def logged_line(message: str) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("wsh.test.logs")
    handler = correlated_handler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(message)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_line_inside_a_span_carries_its_ids() -> None:
    tracer = TracerProvider().get_tracer("t")  # a private provider: globals untouched
    with tracer.start_as_current_span("work") as span:
        line = logged_line("inside")
    context = span.get_span_context()
    assert f"trace_id={trace.format_trace_id(context.trace_id)}" in line
    assert f"span_id={trace.format_span_id(context.span_id)}" in line
    assert line.rstrip().endswith("inside")


def test_a_line_outside_any_span_carries_zero_ids() -> None:
    line = logged_line("outside")
    assert f"trace_id={NO_TRACE_ID} span_id={NO_SPAN_ID}" in line
