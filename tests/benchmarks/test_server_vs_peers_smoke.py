"""Smoke test of ``benchmarks/server_vs_peers.py``: a quick run gives real figures.

Runs the benchmark as a user would (``--quick``: 1,000 sockets) against our server,
the bare aiohttp peer and Node's ``ws`` peer, and checks that the JSON it writes has a
positive memory, fan-out and handshake figure for each, every notification delivered,
and the targets evaluated.  Node and the ``ws`` package are required: ``ws`` is
installed under ``benchmarks/.peers`` with npm when missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "server_vs_peers.py"
PEERS_DIR = ROOT / "benchmarks" / ".peers"
PEERS = ("ours", "aiohttp", "node-ws")


def ensure_node_ws() -> None:
    """Node's ``ws`` package under ``benchmarks/.peers`` (npm, once)."""
    assert shutil.which("node"), "node is required for the node-ws peer"
    if (PEERS_DIR / "node_modules" / "ws").is_dir():
        return
    npm = shutil.which("npm")
    assert npm, "npm is required to install the ws package"
    command = [npm, "install", "--prefix", str(PEERS_DIR), "ws"]
    subprocess.run(command, check=True, timeout=120, capture_output=True)


def test_quick_run_reports_positive_figures_for_every_peer(tmp_path: Path) -> None:
    ensure_node_ws()
    output = tmp_path / "figures.json"
    command = [sys.executable, str(SCRIPT), "--quick", "--peers", ",".join(PEERS)]
    completed = subprocess.run(
        [*command, "--json", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    figures = json.loads(output.read_text())
    assert set(figures["peers"]) == set(PEERS)
    for name, peer in figures["peers"].items():
        assert peer["sockets_open"] == figures["sockets"], (name, peer["errors"])
        assert peer["memory_bytes_per_socket"] > 0, name
        assert len(peer["fanout_ms"]) == figures["rounds"], name
        assert all(ms > 0 for ms in peer["fanout_ms"]), name
        assert sum(peer["fanout_missing_receipts"]) == 0, name
        assert peer["handshakes"] == figures["handshake_sockets"], name
        assert peer["handshakes_per_s"] > 0, name
    evaluated = {target["name"] for target in figures["targets"]}
    assert "ours memory/socket vs aiohttp" in evaluated
    assert "ours fan-out time vs node-ws" in evaluated
    assert "ours handshakes/s vs aiohttp" in evaluated
    assert "PASS" in completed.stdout or "MISS" in completed.stdout
