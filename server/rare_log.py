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
_MAX_KINDS = 256  # bounded, whatever a client sends

_last_logged: dict[tuple[str, ...], float] = {}


def _due(kind: tuple[str, ...], now: float) -> bool:
    last = _last_logged.get(kind)
    if last is not None and now - last < INTERVAL_SECONDS:
        return False
    if len(_last_logged) >= _MAX_KINDS:
        _last_logged.clear()
    _last_logged[kind] = now
    return True


def exception(log: logging.Logger, message: str, exc: BaseException) -> bool:
    """Log ``exc`` with its traceback unless the same failure (type and the line it
    was raised at) was logged in the last minute; True when it was logged."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    if not _due((type(exc).__qualname__, where), time.monotonic()):
        return False
    log.error(message, exc_info=exc)
    return True


def warning(log: logging.Logger, kind: str, message: str, *args: object) -> bool:
    """Log a warning of ``kind`` unless one was logged in the last minute."""
    if not _due((kind,), time.monotonic()):
        return False
    log.warning(message, *args)
    return True
