"""Active sockets: subscribe and echo at --echo-rate with --payload-bytes payloads (also
raw mode).

Run alone with `locust -f loadtests/active.py --host ws://127.0.0.1:8080`, or with the
whole suite via `locust -f loadtests/`.  Options: wsharness/loadclient/options.py
(also editable in the web UI).
"""

from __future__ import annotations

from wsharness.loadclient.suite import ActiveUser as _ActiveUser


class ActiveUser(_ActiveUser):
    """See the module docstring; the behaviour lives in wsharness.loadclient."""
