"""Publishers: publish at --publish-rate through the server's publish frame, stamping a
sequence per topic so receivers detect loss and duplicates exactly.

Run alone with `locust -f loadtests/publisher.py --host ws://127.0.0.1:8080`, or with the
whole suite via `locust -f loadtests/`.  Options: wsharness/loadclient/options.py
(also editable in the web UI).
"""

from __future__ import annotations

from wsharness.loadclient.suite import PublisherUser as _PublisherUser


class PublisherUser(_PublisherUser):
    """See the module docstring; the behaviour lives in wsharness.loadclient."""
