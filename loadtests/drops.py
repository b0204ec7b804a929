"""Network drops: abort (no close frame), RST and read stalls every --drop-interval;
reconnect with jittered backoff and resume with since; a gap is a failure.

Run alone with `locust -f loadtests/drops.py --host ws://127.0.0.1:8080`, or with the
whole suite via `locust -f loadtests/`.  Options: wsharness/loadclient/options.py
(also editable in the web UI).
"""

from __future__ import annotations

from wsharness.loadclient.suite import DropsUser as _DropsUser


class DropsUser(_DropsUser):
    """See the module docstring; the behaviour lives in wsharness.loadclient."""
