"""Fixtures for the Locust suite's tests: the real server in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.loadtests.runs import LocustRun, locustfiles, run_locust, ws_host
from tests.support.servers import ServerProcess


@pytest.fixture(scope="module")
def suite_server() -> Iterator[ServerProcess]:
    """``wsharness serve`` on a free loopback port; tokens warned 2 s before expiry."""
    server = ServerProcess(WSH_TOKEN_WARNING_SECONDS="2").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_queue_server() -> Iterator[ServerProcess]:
    """A server whose per-socket send queue holds 20 messages: stalls end in 1013."""
    server = ServerProcess(WSH_SEND_QUEUE_MESSAGES="20").start()
    yield server
    server.stop()


class SuiteRun(Protocol):
    """Runs some of the suite's locustfiles (by name) against ``suite_server``."""

    def __call__(
        self, *names: str, users: int, seconds: int, extra: tuple[str, ...] = ()
    ) -> LocustRun: ...


@pytest.fixture
def suite_run(suite_server: ServerProcess, tmp_path: Path) -> SuiteRun:
    """A Locust run of the named locustfiles against ``suite_server`` in ``tmp_path``
    with the suite's secret; it must exit 0 (the output is shown when it does not)."""

    def run(
        *names: str, users: int, seconds: int, extra: tuple[str, ...] = ()
    ) -> LocustRun:
        files, host = locustfiles(*names), ws_host(suite_server)
        result = run_locust(files, host, tmp_path, users, seconds, extra=extra)
        assert result.returncode == 0, result.output
        return result

    return run
