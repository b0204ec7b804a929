"""The open-file limit: every socket is a file descriptor, so raise it once at start.

The server, every Locust process and the benchmark processes call
:func:`raise_open_file_limit` once.  It lifts the soft ``RLIMIT_NOFILE`` to the hard
limit and never lowers it.  Where the hard limit is ``RLIM_INFINITY`` (macOS) a soft
limit of infinity is refused, so it asks for :data:`UNLIMITED_FALLBACK` instead; where
the system refuses even that, the limit stays and a warning says so.  Imports nothing
of the project: any layer may use it.
"""

from __future__ import annotations

import logging
import resource

logger = logging.getLogger(__name__)

# macOS's OPEN_MAX: the soft limit it accepts whatever its hard limit says.
UNLIMITED_FALLBACK = 10_240


def soft_limit_target(soft: int, hard: int, ceiling: int | None = None) -> int | None:
    """The soft limit to ask for, or ``None`` to leave it as it is (never lowered).

    ``ceiling``, when given, bounds the result (e.g. a machine's per-process budget).
    """
    infinity = resource.RLIM_INFINITY
    if soft == infinity:
        return None
    wanted = UNLIMITED_FALLBACK if hard == infinity else hard
    if ceiling is not None:
        wanted = min(wanted, ceiling)
    return wanted if wanted > soft else None


def raise_open_file_limit(ceiling: int | None = None) -> int:
    """Raise the soft open-file limit as far as allowed; return the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = soft_limit_target(soft, hard, ceiling)
    if target is None:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as error:
        logger.warning("open-file limit stays %d (asked for %d): %s", soft, target, error)
        return soft
    return target
