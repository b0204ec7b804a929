"""Idle sockets: connect, subscribe to --topics, hold for a long time (thousands of
them).

Run alone with `locust -f loadtests/idle.py --host ws://127.0.0.1:8080`, or with the
whole suite via `locust -f loadtests/`.  Options: wsharness/loadclient/options.py
(also editable in the web UI).
"""

from __future__ import annotations

from wsharness.loadclient.suite import IdleUser as _IdleUser


class IdleUser(_IdleUser):
    """See the module docstring; the behaviour lives in wsharness.loadclient."""
