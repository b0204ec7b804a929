"""One import package: the wheel holds only ``wsharness``, and a user's own ``server.py``
or ``telemetry.py`` in the working directory changes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support.servers import SECRET, free_port
from wsharness.contract.tokens import TokenVerifier

REPO = Path(__file__).resolve().parents[2]
SHADOWS = ("server", "telemetry")


def test_the_wheel_holds_only_the_wsharness_package(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q",
         "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("wsharness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "wsharness",
        f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info",
    }
    assert "wsharness/server/app.py" in names
    assert "wsharness/server/static/index.html" in names
    assert "wsharness/telemetry/setup.py" in names
    assert not [name for name in names if "otlp_sink" in name]  # test infrastructure


@pytest.fixture
def shadowed_directory(tmp_path: Path) -> Path:
    """A working directory with a user's own server.py and telemetry.py."""
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(
            f"raise RuntimeError('the user\\'s own {name}.py was imported')\n"
        )
    return tmp_path


def wsharness_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsharness.cli", *args],
        cwd=directory,
        env={**os.environ, "WSH_JWT_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_help_ignores_a_server_py_in_the_working_directory(
    shadowed_directory: Path,
) -> None:
    result = wsharness_in(shadowed_directory, "serve", "--help")
    assert result.returncode == 0, result.stderr
    assert "--heartbeat-seconds" in result.stdout


def test_token_ignores_a_telemetry_py_in_the_working_directory(
    shadowed_directory: Path,
) -> None:
    result = wsharness_in(shadowed_directory, "token", "--sub", "ops", "--ttl", "60")
    assert result.returncode == 0, result.stderr
    assert TokenVerifier(secret=SECRET).verify(result.stdout.strip()).sub == "ops"


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_a_server_started_beside_them_serves_every_page(shadowed_directory: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "wsharness.cli", "serve", "--port", str(port)],
        cwd=shadowed_directory,
        env={**os.environ, "WSH_JWT_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while get(f"{base}/readyz") != 200:
            assert server.poll() is None, server.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "server not ready within 30 s"
            time.sleep(0.05)  # polling a port: the server offers no readiness event
        assert get(f"{base}/") == 200  # the browser page, read from the package
        assert get(f"{base}/metrics") == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
