"""The ports local servers and Locust masters listen on, and a Locust master on one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.support.servers import SECRET
from wsharness.localserver import EPHEMERAL_RANGE, free_port, locust_master_flags

REPO = Path(__file__).resolve().parents[2]


def ephemeral_low() -> int:
    return int(Path(EPHEMERAL_RANGE).read_text().split()[0])


def test_free_ports_are_below_the_ephemeral_range_so_no_outgoing_connection_takes_one() -> (
    None
):
    ports = [free_port() for _ in range(200)]
    assert all(1_024 <= port < ephemeral_low() for port in ports)


def test_one_process_is_not_handed_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)


def test_a_port_a_listener_holds_is_not_handed_out() -> None:
    """The walk would hand out the next port; a listener holds it, so it is skipped."""
    first = free_port()
    while first + 2 >= ephemeral_low():  # not at the end of the walk, where it wraps
        first = free_port()
    with socket.create_server(("127.0.0.1", first + 1)):
        assert free_port() not in (first, first + 1)


def test_a_locust_master_on_those_flags_listens_on_loopback_only(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, "-m", "locust", "-f", str(REPO / "loadtests"), "--headless",
        "--master", "--expect-workers", "1", "-u", "1", "-t", "5s",
        *locust_master_flags(port),
    ]  # fmt: skip
    env = {**os.environ, "WSH_JWT_SECRET": SECRET}
    log = (tmp_path / "master.log").open("wb")
    master = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        assert listening_address(master, port, tmp_path / "master.log") == "127.0.0.1"
    finally:
        master.kill()
        master.wait()
        log.close()


def listening_address(process: subprocess.Popen[bytes], port: int, log: Path) -> str:
    """The local address ``process`` listens on ``port`` at, once it does."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        for connection in psutil.Process(process.pid).net_connections("tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                return str(connection.laddr.ip)
        time.sleep(0.05)
    raise AssertionError(f"Locust never listened on {port}: {log.read_text()}")
