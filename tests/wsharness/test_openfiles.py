"""wsharness.openfiles: the one open-file limit raise (server, Locust, benchmarks)."""

from __future__ import annotations

import resource
import subprocess
import sys

from wsharness.openfiles import UNLIMITED_FALLBACK, soft_limit_target

INFINITY = resource.RLIM_INFINITY


def test_the_soft_limit_goes_up_to_the_hard_limit() -> None:
    assert soft_limit_target(1024, 4096) == 4096


def test_an_unlimited_hard_limit_asks_for_a_finite_soft_limit() -> None:
    # macOS: the hard limit is RLIM_INFINITY and a soft limit of infinity is refused.
    assert soft_limit_target(256, INFINITY) == UNLIMITED_FALLBACK


def test_the_limit_is_never_lowered() -> None:
    assert soft_limit_target(8192, 8192) is None
    assert soft_limit_target(INFINITY, INFINITY) is None
    assert soft_limit_target(30_000, INFINITY) is None
    assert soft_limit_target(4096, 65_536, ceiling=2048) is None


def test_a_ceiling_bounds_the_raise() -> None:
    assert soft_limit_target(1024, 65_536, ceiling=20_000) == 20_000
    assert soft_limit_target(1024, INFINITY, ceiling=2048) == 2048


CHILD = """
import resource, socket
from wsharness.openfiles import raise_open_file_limit
in_force = raise_open_file_limit()
sockets = [socket.socket() for _ in range(400)]
print(in_force, resource.getrlimit(resource.RLIMIT_NOFILE)[0], len(sockets))
"""


def lower_soft_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))


def test_a_process_started_with_a_low_limit_can_open_more_sockets_after_the_raise() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert hard > 1000, "this test needs a hard open-file limit above 1000"
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        preexec_fn=lower_soft_limit,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    in_force, soft, opened = (int(value) for value in child.stdout.split())
    expected = hard if hard != INFINITY else UNLIMITED_FALLBACK
    assert in_force == soft == expected
    assert opened == 400
