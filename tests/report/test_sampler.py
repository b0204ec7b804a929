"""The metrics sampler against the real server: plain threads, gevent, and Prometheus."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import open_socket
from tests.support.servers import RunningServer, ServerProcess, free_port, wait_until
from wsharness.contract import names
from wsharness.report.inputs import read_generators, read_machine
from wsharness.sampler import (
    CSV_HEADER,
    GENERATOR_FILE,
    MACHINE_FILE,
    METRICS_FILE,
    GeneratorSampler,
    MetricsSampler,
    query_prometheus,
)

REPO = Path(__file__).parents[2]


def rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / METRICS_FILE
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def values(run_dir: Path, series: str) -> list[float]:
    return [float(row["value"]) for row in rows(run_dir) if row["series"] == series]


async def test_samples_open_sockets_memory_cpu_and_closes(
    server: RunningServer, tmp_path: Path
) -> None:
    sampler = MetricsSampler(server.http_url + "/metrics", tmp_path, interval_s=0.05)
    sockets = [await open_socket(server.ws_url, sub=f"u{i}") for i in range(3)]
    sampler.start()
    await wait_until(
        lambda: 3.0 in values(tmp_path, names.PROM_OPEN_CONNECTIONS), what="3 open sockets"
    )
    for ws in sockets:
        await ws.close()
    await wait_until(lambda: server.metric(names.PROM_OPEN_CONNECTIONS) == 0, what="closes")
    await asyncio.to_thread(sampler.stop)  # its final scrape needs this loop to answer

    assert not sampler.running
    assert sampler.errors == 0
    with (tmp_path / METRICS_FILE).open() as handle:
        assert tuple(next(csv.reader(handle))) == CSV_HEADER
    assert values(tmp_path, names.PROM_PROCESS_MEMORY)[-1] > 10 * 2**20
    assert values(tmp_path, names.PROM_PROCESS_CPU)[-1] > 0
    closes = [r for r in rows(tmp_path) if r["series"] == names.PROM_CLOSES]
    assert closes[-1]["labels"] == "code=1000;initiator=client"
    assert closes[-1]["value"] == "3.0", "the final scrape saw every close"
    assert not any("otel_scope" in row["labels"] for row in rows(tmp_path))


async def test_stops_by_itself_after_its_maximum_duration(
    server: RunningServer, tmp_path: Path
) -> None:
    sampler = MetricsSampler(
        server.http_url + "/metrics", tmp_path, interval_s=0.05, max_duration_s=0.3
    ).start()
    await wait_until(lambda: not sampler.running, timeout=5, what="sampler to give up")
    assert 1 <= sampler.scrapes <= 10


def test_a_server_that_is_down_is_counted_not_raised(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    sampler = MetricsSampler(url, tmp_path, interval_s=0.05, timeout_s=0.5).start()
    deadline = time.monotonic() + 5
    while sampler.errors < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sampler.running
    sampler.stop()
    assert sampler.errors >= 2 and sampler.scrapes == 0
    assert "Connection refused" in sampler.last_error
    assert rows(tmp_path) == []


@pytest.fixture
def server_process() -> Iterator[ServerProcess]:
    running = ServerProcess().start()
    yield running
    running.stop()


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import sys, time, gevent
from wsharness.sampler import MetricsSampler
assert monkey.is_module_patched("threading") and monkey.is_module_patched("socket")
sampler = MetricsSampler(sys.argv[1], sys.argv[2], interval_s=0.05).start()
deadline = time.monotonic() + 10
while sampler.scrapes < 3 and time.monotonic() < deadline:
    gevent.sleep(0.02)   # other greenlets (Locust users) keep running meanwhile
sampler.stop()
print(sampler.scrapes, sampler.errors)
"""


def test_works_under_gevent_monkey_patching(
    server_process: ServerProcess, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            GEVENT_SCRIPT,
            server_process.http_url + "/metrics",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    scrapes, errors = map(int, result.stdout.split())
    assert scrapes >= 4 and errors == 0  # three in the loop, one final at stop
    assert len(values(tmp_path, names.PROM_PROCESS_MEMORY)) == scrapes


PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: wsharness
    static_configs:
      - targets: ["127.0.0.1:{port}"]
"""


@pytest.fixture
def prometheus(server_process: ServerProcess, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "the Debian 'prometheus' package is required (make system-deps)"
    config, port = tmp_path / "prometheus.yml", free_port()
    config.write_text(PROMETHEUS_CONFIG.format(port=server_process.port))
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def instant(prometheus_url: str, query: str) -> list[dict]:
    url = f"{prometheus_url}/api/v1/query?query={query}"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return list(json.load(response)["data"]["result"])
    except OSError:
        return []


async def test_reads_the_series_back_from_a_prometheus_api(
    server_process: ServerProcess, prometheus: str, tmp_path: Path
) -> None:
    start = time.time()
    sockets = [await open_socket(server_process.ws_url, sub=f"p{i}") for i in range(2)]

    def scraped_two() -> bool:
        found = instant(prometheus, names.PROM_OPEN_CONNECTIONS)
        return bool(found) and found[0]["value"][1] == "2"

    deadline = time.monotonic() + 30
    while not await asyncio.to_thread(scraped_two):
        assert time.monotonic() < deadline, "prometheus never saw the 2 sockets"
        await asyncio.sleep(0.2)
    path = await asyncio.to_thread(
        query_prometheus, prometheus, tmp_path, start, time.time()
    )
    for ws in sockets:
        await ws.close()

    assert path == tmp_path / METRICS_FILE
    assert 2.0 in values(tmp_path, names.PROM_OPEN_CONNECTIONS)
    assert values(tmp_path, names.PROM_PROCESS_MEMORY)
    labels = {
        r["labels"] for r in rows(tmp_path) if r["series"] == names.PROM_OPEN_CONNECTIONS
    }
    assert labels == {f"instance=127.0.0.1:{server_process.port}"}


def test_every_scrape_is_flushed_while_running(tmp_path: Path) -> None:
    """A load test that crashes mid-run still leaves the scrapes so far on disk."""
    port = free_port()
    script = textwrap.dedent(
        f"""
        import http.server, threading
        body = b"wsh_open_connections 7\\n"
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200); self.end_headers(); self.wfile.write(body)
            def log_message(self, *args): pass
        http.server.ThreadingHTTPServer(("127.0.0.1", {port}), Handler).serve_forever()
        """
    )
    endpoint = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ))
    try:
        sampler = MetricsSampler(f"http://127.0.0.1:{port}/metrics", tmp_path, 0.05).start()
        deadline = time.monotonic() + 10
        while len(values(tmp_path, names.PROM_OPEN_CONNECTIONS)) < 2:
            assert time.monotonic() < deadline, "no scrape reached the file"
            time.sleep(0.02)
        sampler.stop()
    finally:
        endpoint.terminate()
        endpoint.wait(10)
    assert set(values(tmp_path, names.PROM_OPEN_CONNECTIONS)) == {7.0}


BURN_SECONDS = "30"  # the burner's own bound; it is killed as soon as the test has seen it
BURNER = """
import sys, time
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""


def test_the_generator_sampler_records_what_the_whole_machine_is_busy_with(
    tmp_path: Path,
) -> None:
    """A process outside the watched tree burning a core shows in ``machine.csv``."""
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    burner = subprocess.Popen([sys.executable, "-c", BURNER, BURN_SECONDS])
    sampler = GeneratorSampler(idle.pid, tmp_path, interval_s=0.2).start()
    try:
        deadline = time.monotonic() + 30
        while len(read_machine(tmp_path / MACHINE_FILE)) < 6:
            assert time.monotonic() < deadline, "no machine samples"
            time.sleep(0.1)
    finally:
        sampler.stop()
        for process in (idle, burner):
            process.kill()
            process.wait()
    machine = read_machine(tmp_path / MACHINE_FILE)
    assert max(row.busy_cores for row in machine) > 0.8  # the burner's core
    assert all(row.busy_cores <= (os.cpu_count() or 1) + 0.1 for row in machine)
    watched = read_generators(tmp_path / GENERATOR_FILE)
    assert watched and all((row.cpu_percent or 0.0) < 20 for row in watched)
