"""loadclient/http_publish.py: the stamped payload POSTed as JSON to a real HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from wsharness.loadclient.http_publish import HttpPublisher, HttpPublishFailed
from wsharness.loadclient.report import WsFailure
from wsharness.loadclient.stamp import find_stamp, new_stamp, stamped_payload
from wsharness.localserver import free_port


class Backend(ThreadingHTTPServer):
    """Records every POST; answers with ``status``."""

    status = 200

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/publish"


class Handler(BaseHTTPRequestHandler):
    server: Backend

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join(timeout=10)


def test_the_stamped_payload_is_posted_as_json(backend: Backend) -> None:
    publisher = HttpPublisher(backend.url)
    stamp = new_stamp("publisher-1", 7, topic="news")
    publisher.publish(stamped_payload(stamp, pad="xx"), traceparent="00-ab-cd-01")
    (path, headers, body) = backend.requests[0]
    assert path == "/publish"
    assert headers["Content-Type"] == "application/json"
    assert headers["traceparent"] == "00-ab-cd-01"
    assert "Authorization" not in headers
    assert json.loads(body)["pad"] == "xx"
    assert find_stamp(body.decode()) == stamp
    publisher.close()


def test_a_token_goes_where_token_in_says(backend: Backend) -> None:
    HttpPublisher(backend.url).publish({"a": 1}, token="t.k.n")
    HttpPublisher(backend.url, token_in="query").publish({"a": 1}, token="t.k.n")
    (_, in_header, _), (in_query, headers, _) = backend.requests
    assert in_header["Authorization"] == "Bearer t.k.n"
    assert in_query == "/publish?access_token=t.k.n" and "Authorization" not in headers


def test_an_http_error_is_a_failure_named_by_its_status(backend: Backend) -> None:
    backend.status = 503
    with pytest.raises(
        HttpPublishFailed, match=r"^http publish refused: HTTP 503$"
    ) as refused:
        HttpPublisher(backend.url).publish({"a": 1})
    assert isinstance(refused.value, WsFailure) and refused.value.status == 503


def test_an_unreachable_backend_is_an_unknown_outcome() -> None:
    publisher = HttpPublisher(f"http://127.0.0.1:{free_port()}/publish", timeout=5)
    with pytest.raises(requests.ConnectionError):
        publisher.publish({"a": 1})
