"""The ``wsharness`` console script: token, publish and serve as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.clients import open_socket, receive, subscribe
from tests.support.servers import SECRET, ServerProcess
from wsharness.contract.tokens import TokenVerifier


def wsharness(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsharness.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_prints_a_jwt_the_server_accepts() -> None:
    result = wsharness("token", "--sub", "ops", "--ttl", "60", "--scope", "publish",
                       WSH_JWT_SECRET=SECRET)  # fmt: skip
    assert result.returncode == 0, result.stderr
    identity = TokenVerifier(secret=SECRET).verify(result.stdout.strip())
    assert identity.sub == "ops" and identity.can_publish


def test_token_without_a_secret_says_what_is_missing() -> None:
    env = {k: v for k, v in os.environ.items() if k != "WSH_JWT_SECRET"}
    result = subprocess.run(
        [sys.executable, "-m", "wsharness.cli", "token", "--sub", "x"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "WSH_JWT_SECRET" in result.stderr


def test_serve_without_a_key_refuses_to_start() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSH_JWT")}
    result = subprocess.run(
        [sys.executable, "-m", "wsharness.cli", "serve", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "WSH_JWT_SECRET" in result.stderr


async def test_publish_reaches_a_subscriber_through_the_server() -> None:
    process = ServerProcess().start()
    try:
        ws = await open_socket(process.ws_url)
        await subscribe(ws, "deploys")
        result = wsharness("publish", "deploys", '{"version": 42}',
                           WSH_JWT_SECRET=SECRET, WSH_URL=process.http_url)  # fmt: skip
        assert result.returncode == 0, result.stderr
        message = await receive(ws)
        assert message["data"] == {"version": 42} and message["id"] in result.stdout
    finally:
        process.stop()


def test_publish_to_a_server_that_is_not_there_fails_clearly() -> None:
    result = wsharness("publish", "t", "x", WSH_JWT_SECRET=SECRET,
                       WSH_URL="http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 1 and "cannot reach" in result.stderr


def test_sample_scrapes_a_running_server_into_the_run_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    process = ServerProcess().start()
    try:
        result = wsharness("sample", f"{process.http_url}/metrics", str(tmp_path / "run"),
                           "--interval", "0.2", "--duration", "1")  # fmt: skip
    finally:
        process.stop()
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "run" / "server_metrics.csv").read_text().splitlines()
    assert rows[0].startswith("timestamp")
    assert any(",wsh_open_connections," in row for row in rows)


def test_serve_loads_only_the_server_not_the_reports_numerical_stack() -> None:
    """A server process carries what it serves with (memory, GC scans), not scipy."""
    probe = (
        "import sys\n"
        "from wsharness.cli import build_parser\n"
        "build_parser('serve').parse_args(['serve'])\n"
        "import wsharness.server.app\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'scipy', 'yaml'}))"
    )
    served = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    assert served.stdout.strip() == "[]"
    listing = wsharness("--help")
    for command in ("serve", "token", "publish", "report", "sample"):
        assert command in listing.stdout
