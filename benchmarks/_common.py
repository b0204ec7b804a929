"""What the benchmark scripts share: child processes, scraping, tables and JSON output.

Every script is run as ``python benchmarks/<name>.py``, so its folder is first on
``sys.path`` and this module imports as ``_common``.  Benchmarks import the product
(``wsharness``, installed in the virtualenv) and this module, never the tests.

- **Processes**: :class:`Children` starts every child of a run (servers, peers, load
  generators, the OTLP receiver, the Pub/Sub emulator) so that all of them end with
  the run, however it ends (and die with it: ``PR_SET_PDEATHSIG``);
  :class:`OtlpReceiver` and :class:`PubSubEmulator` are two such children.
- **Scraping**: :func:`scrape` reads a ``/metrics`` page; :func:`histogram_mean`,
  :func:`histogram_buckets` and :func:`bucket_quantile` read its histograms.  For the
  synchronous (Locust) benchmarks, :func:`open_connections` reads one gauge and
  :func:`wait_until` polls for a condition; :func:`start_logged` starts a process
  whose output goes to a log file.
- **Tables and verdicts**: :func:`format_table` aligns columns; a :class:`Target` is one
  figure against the limit an issue set, printed as PASS or MISS.
- **JSON**: :func:`write_json` writes a run's figures with what they were measured on
  (command, CPUs, load average before and after, duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from wsharness.contract.names import PROM_OPEN_CONNECTIONS
from wsharness.localserver import free_port

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PEERS = BENCHMARKS / "_peers"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

# -- processes -------------------------------------------------------------------------


def die_with_parent() -> None:
    """Linux: SIGKILL this child when the benchmark dies, however it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Children:
    """Every process a run starts, so that all of them end, even on failure."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []

    async def start(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        stdin: bool = False,
        stdout: bool = True,
        new_session: bool = False,
    ) -> asyncio.subprocess.Process:
        """Start ``argv`` from the repository root; stdin and stdout piped if asked.

        stderr is discarded.  ``new_session`` puts the child in a process group of
        its own, for children that start children of their own (``gcloud`` starts
        java): :meth:`stop` and :meth:`kill_all` then signal the whole group.
        """
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            preexec_fn=die_with_parent,
            start_new_session=new_session,
            limit=1 << 20,
        )
        self.processes.append(process)
        return process

    async def stop(self, process: asyncio.subprocess.Process) -> None:
        """SIGTERM one child (its group, if it has one), SIGKILL it past a timeout."""
        _signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            _signal(process, signal.SIGKILL)
            await process.wait()

    async def kill_all(self) -> None:
        """SIGKILL whatever is still running and reap it (bounded)."""
        for process in self.processes:
            _signal(process, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(process.wait() for process in self.processes)),
                STOP_TIMEOUT_S,
            )
        self.processes.clear()


def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, sig)  # the child leads a group: all of it
        else:
            process.send_signal(sig)


async def wait_listening(
    process: asyncio.subprocess.Process, what: str, timeout: float = START_TIMEOUT_S
) -> None:
    """Until the child prints a line saying ``listening`` (every peer here does)."""
    assert process.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            line = await process.stdout.readline()
            if not line:
                raise RuntimeError(f"{what} exited before listening")
            if b"listening" in line:
                return


async def wait_port(
    port: int, process: asyncio.subprocess.Process, what: str, timeout: float
) -> None:
    """Until something accepts TCP connections on loopback ``port`` (bounded)."""
    deadline = time.monotonic() + timeout
    while not _port_answers(port):
        if process.returncode is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}) before listening")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not listening on port {port} after {timeout} s")
        await asyncio.sleep(0.1)  # polling a port that has no readiness event


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class OtlpReceiver:
    """``_peers/otlp_discard.py`` in a process of its own: where ``OTEL_*`` export goes.

    It accepts every OTLP/HTTP export; with ``count_spans`` it also decodes the trace
    exports and tells, when stopped, how many spans arrived (a check that telemetry
    was on).  Its own CPU is not the server's, so the server pays for recording,
    batching, encoding and sending, and for nothing a collector would do.
    """

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    async def start(cls, children: Children, count_spans: bool = False) -> OtlpReceiver:
        port = free_port()
        argv = [sys.executable, str(PEERS / "otlp_discard.py"), str(port)]
        process = await children.start([*argv, "--count-spans"] if count_spans else argv)
        await wait_listening(process, "OTLP receiver")
        return cls(process, port)

    async def stop(self) -> int:
        """Stop it; return how many spans it counted (0 unless ``count_spans``)."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.stdout is not None
        output = await asyncio.wait_for(self.process.stdout.read(), STOP_TIMEOUT_S)
        await self.process.wait()
        lines = output.decode().strip().splitlines()
        return int(json.loads(lines[-1]).get("spans", 0)) if lines else 0


class PubSubEmulator:
    """``gcloud beta emulators pubsub`` on a loopback port (java, in a group of its own)."""

    PROJECT = "bench-project"

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.host = f"127.0.0.1:{port}"

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to talk to this emulator."""
        return {"PUBSUB_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": self.PROJECT}

    @classmethod
    async def start(cls, children: Children) -> PubSubEmulator:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError("gcloud is not installed (with its pubsub-emulator)")
        port = free_port()
        argv = [gcloud, "beta", "emulators", "pubsub", "start",
                f"--host-port=127.0.0.1:{port}", f"--project={cls.PROJECT}"]  # fmt: skip
        process = await children.start(argv, stdout=False, new_session=True)
        await wait_port(port, process, "Pub/Sub emulator", START_TIMEOUT_S)
        return cls(process, port)


# -- scraping ------------------------------------------------------------------------


async def scrape(http: aiohttp.ClientSession, url: str) -> list[Sample]:
    """Every sample of one Prometheus text page (a server's ``/metrics``)."""
    async with http.get(url) as response:
        response.raise_for_status()
        text = await response.text()
    return [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def start_logged(
    command: list[str],
    env: dict[str, str],
    log: Path,
    new_session: bool = False,
    preexec: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """``command`` started with its stdout and stderr written to ``log``."""
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
            preexec_fn=preexec,
        )


def open_connections(http_url: str) -> int:
    """The server's ``wsh_open_connections`` now (0 when it has none)."""
    with urllib.request.urlopen(http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == PROM_OPEN_CONNECTIONS:
                return int(sample.value)
    return 0


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 0.2 s; exit the benchmark naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def histogram_mean(samples: Sequence[Sample], name: str) -> float:
    """``name_sum / name_count`` of a histogram (NaN when it has no observation)."""
    total = sum(s.value for s in samples if s.name == f"{name}_sum")
    count = sum(s.value for s in samples if s.name == f"{name}_count")
    return total / count if count else math.nan


def histogram_buckets(samples: Sequence[Sample], name: str) -> list[tuple[float, float]]:
    """A histogram's cumulative ``(le, count)`` rows, summed over its label sets."""
    totals: dict[float, float] = {}
    for sample in samples:
        if sample.name == f"{name}_bucket":
            le = float(sample.labels["le"])
            totals[le] = totals.get(le, 0.0) + sample.value
    return sorted(totals.items())


def bucket_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float:
    """Prometheus' ``histogram_quantile``: linear within the bucket that holds ``q``."""
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == math.inf:
                return lower_le
            inside = (rank - lower_count) / max(count - lower_count, 1e-9)
            return lower_le + (le - lower_le) * inside
        lower_le, lower_count = le, count
    return lower_le


# -- tables and verdicts ---------------------------------------------------------------


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns as wide as their widest cell: the first left-aligned, the rest right."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One figure against the limit an issue set for it: PASS or MISS."""

    name: str
    value: float
    limit: float
    at_most: bool
    percent: bool = False  # print value and limit as percentages

    @property
    def passed(self) -> bool:
        return self.value <= self.limit if self.at_most else self.value >= self.limit

    def line(self) -> str:
        relation = "<=" if self.at_most else ">="
        shown = f"{self.value:+.1%}" if self.percent else f"{self.value:.2f}"
        limit = f"{self.limit:.0%}" if self.percent else f"{self.limit}"
        verdict = "PASS" if self.passed else "MISS"
        return f"{verdict}  {self.name}: {shown} ({relation} {limit})"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "limit": self.limit,
                "at_most": self.at_most, "pass": self.passed}  # fmt: skip


def ratio(ours: float, theirs: float) -> float:
    """``ours / theirs``, NaN when there is nothing to compare with."""
    return ours / theirs if theirs > 0 else math.nan


# -- the machine and JSON output ---------------------------------------------------------


def warn_if_busy() -> tuple[float, float, float]:
    """The load average now; a warning when it says timings will be noisy."""
    load = os.getloadavg()
    if load[0] > (os.cpu_count() or 1) / 2:
        print(
            f"warning: load average {load[0]:.1f} on {os.cpu_count()} CPUs: "
            "timings will be noisy",
            flush=True,
        )
    return load


def write_json(
    path: Path,
    figures: dict[str, Any],
    started: float,
    load_at_start: tuple[float, float, float],
) -> None:
    """Write ``figures`` with the run's context: command, CPUs, load, duration."""
    document = {
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg(),
        "seconds": time.monotonic() - started,
        **figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
