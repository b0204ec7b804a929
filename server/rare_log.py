"""Log lines a hostile client cannot flood: each kind at most once a minute.

A client that can trigger a failure can trigger it a thousand times a second; the
metrics count every one, the log shows the first of each kind (with its traceback)
and then stays quiet for a minute.
"""

from __future__ import annotations

import logging
import time
import traceback

INTERVAL_SECONDS = 60.0
MAX_KINDS = 256  # bounded, whatever a client sends


class RareLog:
    """One logger's rate-limited records, by kind (one per server instance)."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._last_logged: dict[tuple[str, ...], float] = {}

    def exception(self, message: str, exc: BaseException) -> bool:
        """Log ``exc`` with its traceback unless the same failure (its type and the
        line it was raised at) was logged in the last minute; True when logged."""
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        if not self._due((type(exc).__qualname__, where)):
            return False
        self._log.error(message, exc_info=exc)
        return True

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log a warning of ``kind`` unless one was logged in the last minute."""
        if not self._due((kind,)):
            return False
        self._log.warning(message, *args)
        return True

    def _due(self, kind: tuple[str, ...]) -> bool:
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < INTERVAL_SECONDS:
            return False
        if len(self._last_logged) >= MAX_KINDS:
            self._last_logged.clear()
        self._last_logged[kind] = now
        return True
