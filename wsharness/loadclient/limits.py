"""Open-file limits: each Locust process raises its own to the hard limit.

Every socket is a file descriptor; Locust only lifts the soft limit to 10,000.  The
suite raises it to the hard limit in every process (master, workers, ``--processes``
children) and, when a connect still fails for want of descriptors, names the limit
in the failure instead of a bare ``OSError``.
"""

from __future__ import annotations

import errno
import resource


def is_out_of_descriptors(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE)


def describe_limit() -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return f"too many open files (RLIMIT_NOFILE soft {soft}, hard {hard})"
