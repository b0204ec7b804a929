"""Publishing straight to Google Cloud Pub/Sub over its REST API, for the publisher.

The server's Pub/Sub broker consumes one shared topic; a publisher that goes
straight there measures the whole production path (Pub/Sub, every instance's
subscription, the fan-out), not just one instance's publish frame.  REST over
``requests`` is gevent-friendly under Locust (the gRPC client library is not); the
message layout matches :mod:`server.brokers.pubsub`: JSON ``data``, the logical
topic as ordering key and ``wsh_topic`` attribute, ``wsh_published_at`` in ms.

``PUBSUB_EMULATOR_HOST`` selects the emulator (no credentials); otherwise Google's
application-default credentials authorise the calls.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import requests

from wsharness.contract.protocol import TRACEPARENT
from wsharness.loadclient.report import WsFailure

# Same names as server.brokers.pubsub (kept import-free of the gRPC client here;
# tests/loadtests/test_pubsub_rest.py checks they agree).
TOPIC_ATTRIBUTE = "wsh_topic"
PUBLISHED_AT_ATTRIBUTE = "wsh_published_at"
DEFAULT_TOPIC = "wsharness-notifications"
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"
REQUEST_TIMEOUT_S = 10.0


class PubSubPublishFailed(WsFailure):
    """Pub/Sub answered a publish with an HTTP error: nothing was published.

    The message names the topic (a 404 is usually a topic that does not exist).
    """

    def __init__(self, status: int, topic_path: str = "") -> None:
        where = f" for {topic_path}" if topic_path else ""
        super().__init__(f"pubsub publish refused: HTTP {status}{where}")
        self.status = status
        self.topic_path = topic_path


def publish_body(topic: str, data: Any, traceparent: str | None) -> dict[str, Any]:
    """One Pub/Sub REST publish request carrying one notification."""
    attributes = {
        TOPIC_ATTRIBUTE: topic,
        PUBLISHED_AT_ATTRIBUTE: str(int(time.time() * 1000)),
    }
    if traceparent:
        attributes[TRACEPARENT] = traceparent
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    message = {
        "data": base64.b64encode(payload).decode(),
        "attributes": attributes,
        "orderingKey": topic,
    }
    return {"messages": [message]}


class PubSubRestPublisher:
    """Publishes to one Pub/Sub topic; one per process, its HTTP connections pooled."""

    def __init__(self, project: str, topic: str, emulator_host: str | None) -> None:
        base = (
            f"http://{emulator_host}" if emulator_host else "https://pubsub.googleapis.com"
        )
        self.topic_path = f"projects/{project}/topics/{topic}"
        self.url = f"{base}/v1/{self.topic_path}:publish"
        self.session = requests.Session() if emulator_host else _authorized_session()

    @classmethod
    def from_env(cls, topic: str | None, environ: Mapping[str, str] | None = None) -> Any:
        env = os.environ if environ is None else environ
        project = env.get("GOOGLE_CLOUD_PROJECT", "").strip()
        if not project:
            raise ValueError("--publish-via pubsub needs GOOGLE_CLOUD_PROJECT")
        chosen = topic or env.get("WSH_PUBSUB_TOPIC") or DEFAULT_TOPIC
        return cls(project, chosen, env.get("PUBSUB_EMULATOR_HOST") or None)

    def publish(self, topic: str, data: Any, traceparent: str | None = None) -> str:
        """Publish one notification; its Pub/Sub message id (raises on refusal)."""
        body = publish_body(topic, data, traceparent)
        response = self.session.post(self.url, json=body, timeout=REQUEST_TIMEOUT_S)
        if response.status_code != 200:
            raise PubSubPublishFailed(response.status_code, self.topic_path)
        return str(response.json()["messageIds"][0])


def _authorized_session() -> requests.Session:
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[PUBSUB_SCOPE])
    return AuthorizedSession(credentials)
