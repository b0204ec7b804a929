"""Log correlation: every log record carries the trace and span ids of its context.

:class:`TraceContextFilter` adds ``trace_id``, ``span_id`` and ``trace_sampled`` to each
record (all zeros outside a span), read from the OpenTelemetry context current where
the record is made, so a log line can be looked up in Jaeger.  :func:`configure_logging`
installs it with :data:`LOG_FORMAT` on the root logger's handler.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from opentelemetry import trace

NO_TRACE_ID = "0" * 32
NO_SPAN_ID = "0" * 16
LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s "
    "[trace_id=%(trace_id)s span_id=%(span_id)s] %(message)s"
)


class TraceContextFilter(logging.Filter):
    """Stamps each record with the current span's ids (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = trace.format_trace_id(context.trace_id)
            record.span_id = trace.format_span_id(context.span_id)
            record.trace_sampled = context.trace_flags.sampled
        else:
            record.trace_id = NO_TRACE_ID
            record.span_id = NO_SPAN_ID
            record.trace_sampled = False
        return True


def correlated_handler(
    stream: TextIO | None = None, fmt: str = LOG_FORMAT
) -> logging.Handler:
    """A stream handler whose records carry trace and span ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(logging.Formatter(fmt))
    return handler


def configure_logging(
    level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Root logging for a service: one correlated handler, replacing earlier ones."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_wsh_correlated", False):
            root.removeHandler(handler)
    handler = correlated_handler(stream)
    handler._wsh_correlated = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
