"""The load client's receive path under Locust's gevent patching, on real sockets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.support.servers import SECRET, ServerProcess

SOCKETS = 40

# What a Locust process is: gevent's patching first (importing locust does it).
CLIENT = textwrap.dedent(
    """
    import json, sys, time

    import locust  # noqa: F401  (patches the standard library, as in every Locust run)
    import gevent

    from wsharness.contract.tokens import mint
    from wsharness.loadclient.session import FanIn, WsSession

    url, secret, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    frames = []
    sessions = [
        WsSession.connect(
            url, [f"Authorization: Bearer {mint(secret, f'reader-{n}')}"], 5, frames.append
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 20
    while len(frames) < count and time.monotonic() < deadline:
        gevent.sleep(0.01)  # the loop runs the reads
    fan_in = FanIn.get()
    print(json.dumps({
        "fan_in": fan_in is not None,
        "watching": fan_in.watching if fan_in else 0,
        "welcomes": sum(b'"type":"welcome"' in frame for frame in frames),
    }))
    """
)


def test_under_locusts_patching_every_socket_is_read_through_one_epoll_set() -> None:
    """gevent's patching hides ``select.epoll``; the fan-in must still find it."""
    server = ServerProcess().start()
    try:
        completed = subprocess.run(
            [sys.executable, "-c", CLIENT, server.ws_url, SECRET, str(SOCKETS)],
            capture_output=True, text=True, timeout=60, check=False,
            env={k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"},
        )  # fmt: skip
    finally:
        server.stop()
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen == {"fan_in": True, "watching": SOCKETS, "welcomes": SOCKETS}
