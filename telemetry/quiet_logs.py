"""Keeps a collector that is down, slow or refusing from flooding the service's log.

The OTLP exporters log a warning per retry and an error per failed batch; with the
collector gone that is several lines a second, forever.  :func:`quiet_exporter_logs`
puts a :class:`RateLimitFilter` on every ``opentelemetry.*`` logger: the first record
goes through, then at most one per interval, carrying the count of those suppressed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

DEFAULT_INTERVAL_S = 60.0
OTEL_LOGGER_PREFIX = "opentelemetry"


class RateLimitFilter(logging.Filter):
    """Passes at most one record per ``interval_s``; counts the ones it drops."""

    def __init__(
        self,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._next_allowed = float("-inf")
        self.suppressed_total = 0
        self._suppressed_since_last = 0

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self._clock()
            if now < self._next_allowed:
                self.suppressed_total += 1
                self._suppressed_since_last += 1
                return False
            self._next_allowed = now + self.interval_s
            suppressed, self._suppressed_since_last = self._suppressed_since_last, 0
        if suppressed:
            record.msg = (
                f"{record.msg} [{suppressed} similar telemetry log lines suppressed]"
            )
        return True


def quiet_exporter_logs(interval_s: float = DEFAULT_INTERVAL_S) -> list[logging.Logger]:
    """Rate-limit every ``opentelemetry.*`` logger that exists now (idempotent).

    Call it after the exporters are imported so their module loggers exist.
    """
    quieted = []
    for name in list(logging.root.manager.loggerDict):
        if not name.startswith(OTEL_LOGGER_PREFIX):
            continue
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
            logger.addFilter(RateLimitFilter(interval_s))
        quieted.append(logger)
    return quieted
