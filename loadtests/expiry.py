"""Token expiry: --expiry-token-ttl tokens, refreshed in-band on token_expiring or left
to expire (4001) and re-authenticated; both timed.

Run alone with `locust -f loadtests/expiry.py --host ws://127.0.0.1:8080`, or with the
whole suite via `locust -f loadtests/`.  Options: wsharness/loadclient/options.py
(also editable in the web UI).
"""

from __future__ import annotations

from wsharness.loadclient.suite import ExpiryUser as _ExpiryUser


class ExpiryUser(_ExpiryUser):
    """See the module docstring; the behaviour lives in wsharness.loadclient."""
