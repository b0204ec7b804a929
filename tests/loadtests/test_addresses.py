"""Source addresses: parsed from ranges, handed out round-robin, used on the wire."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.loadtests.runs import locustfiles, run_locust
from tests.loadtests.test_idle import ws_host
from tests.support.servers import ServerProcess
from wsharness.loadclient.addresses import SourceAddresses, parse_addresses


def test_ranges_and_lists_expand_in_order() -> None:
    assert parse_addresses("127.0.0.1-127.0.0.3, ::1") == [
        "127.0.0.1", "127.0.0.2", "127.0.0.3", "::1",
    ]  # fmt: skip


@pytest.mark.parametrize("text", ["127.0.0.3-127.0.0.1", "127.0.0.1-::1", "nonsense"])
def test_bad_ranges_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_addresses(text)


def test_addresses_are_handed_out_round_robin() -> None:
    sources = SourceAddresses("127.0.0.1-127.0.0.2")
    assert [sources.next() for _ in range(3)] == ["127.0.0.1", "127.0.0.2", "127.0.0.1"]
    assert SourceAddresses(None).next() is None


def peer_addresses(port: int) -> set[str]:
    """Remote addresses of the established sockets on the server's port (ss)."""
    listing = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[-1].rsplit(":", 1)[0] for line in listing.splitlines()}


def test_sockets_come_from_every_configured_source_address(
    suite_server: ServerProcess, tmp_path: Path
) -> None:
    run = run_locust(
        locustfiles("idle"),
        ws_host(suite_server),
        tmp_path,
        users=6,
        seconds=3,
        extra=("--source-addresses", "127.0.0.2-127.0.0.4", "--sockets-log-interval", "1"),
        during=lambda: peer_addresses(suite_server.port),
    )

    assert run.returncode == 0, run.output
    assert run.count("connect") == 6
    assert {"127.0.0.2", "127.0.0.3", "127.0.0.4"} <= run.observed
