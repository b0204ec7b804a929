"""Publishing through a backend's HTTP endpoint: ``--publish-via http --publish-url URL``.

A server nobody here wrote usually publishes its notifications from the backend: an
HTTP endpoint that hands the body to Pub/Sub, Redis or its sockets.  A publisher user
measures that whole path by POSTing the stamped payload
(:func:`wsharness.loadclient.stamp.stamped_payload`) as JSON.  ``requests`` is
gevent-friendly under Locust (its sockets are monkey-patched), one session per
process pools the connections; a token, when a token source is given, goes where
``--token-in`` says (:func:`wsharness.loadclient.protocols.place_token`), and the
client span's ``traceparent`` goes along so a traced backend joins the trace.
"""

from __future__ import annotations

from typing import Any

import requests

from wsharness.contract.protocol import TRACEPARENT
from wsharness.loadclient.protocols import place_token
from wsharness.loadclient.report import WsFailure
from wsharness.loadclient.stamp import encode_payload

REQUEST_TIMEOUT_S = 10.0


class HttpPublishFailed(WsFailure):
    """The publish endpoint answered with an HTTP error: nothing was published."""

    def __init__(self, status: int) -> None:
        super().__init__(f"http publish refused: HTTP {status}")
        self.status = status


class HttpPublisher:
    """POSTs JSON payloads to one URL; one per process, its connections pooled."""

    def __init__(
        self, url: str, timeout: float = REQUEST_TIMEOUT_S, token_in: str = "header"
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.token_in = token_in
        self.session = requests.Session()

    def publish(
        self,
        payload: dict[str, Any],
        token: str | None = None,
        traceparent: str | None = None,
    ) -> None:
        """POST one payload; raises :class:`HttpPublishFailed` unless the answer is 2xx.

        Connection errors and timeouts raise ``requests.RequestException``: the
        outcome is unknown (the backend may have published), as with Pub/Sub.
        """
        url, headers = place_token(self.url, token, self.token_in)
        headers["Content-Type"] = "application/json"
        if traceparent:
            headers[TRACEPARENT] = traceparent
        body = encode_payload(payload).encode()
        response = self.session.post(url, data=body, headers=headers, timeout=self.timeout)
        if not 200 <= response.status_code < 300:
            raise HttpPublishFailed(response.status_code)

    def close(self) -> None:
        self.session.close()
