"""Production tokens: RS256 keys from a real JWKS endpoint on loopback, slow or down.

The endpoint is ``http.server`` in a thread of its own, so a slow answer is really
slow: a server that fetched on its event loop would stall every socket meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import receive, send, subscribe
from tests.support.servers import RunningServer, start_server, wait_until
from wsharness.contract import names
from wsharness.server import jwks

ISSUER = "https://idp.example"
AUDIENCE = "wsharness"


class SigningKey:
    """An RSA key pair with a key id: signs tokens, publishes its public JWK."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, sub: str = "alice", ttl: float = 300, **claims: Any) -> str:
        body = {"sub": sub, "exp": time.time() + ttl, "iss": ISSUER, "aud": AUDIENCE}
        return jwt.encode(
            body | claims, self.private, algorithm="RS256", headers={"kid": self.kid}
        )


class JwksEndpoint:
    """A JWKS document served over HTTP on loopback that can be made slow or down."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.delay = 0.0
        self.failing = False  # answer 503
        self.requests = 0
        self.answered = 0  # requests answered (after the delay)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests += 1
                time.sleep(endpoint.delay)
                if endpoint.failing:
                    self.send_error(503)
                    return
                body = json.dumps({"keys": [key.jwk() for key in endpoint.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                endpoint.answered += 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Down for good: the port refuses connections."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def key_a() -> SigningKey:
    return SigningKey("key-a")


@pytest.fixture(scope="module")
def key_b() -> SigningKey:
    return SigningKey("key-b")


@pytest.fixture
def endpoint(key_a: SigningKey) -> Iterator[JwksEndpoint]:
    served = JwksEndpoint(key_a)
    yield served
    served.stop()


@pytest.fixture
async def make_jwks_server(
    endpoint: JwksEndpoint,
) -> AsyncIterator[Any]:
    started: list[RunningServer] = []

    async def make(**overrides: Any) -> RunningServer:
        settings: dict[str, Any] = {
            "jwt_secret": None,
            "jwks_url": endpoint.url,
            "jwt_audience": AUDIENCE,
            "jwt_issuer": ISSUER,
        }
        running = await start_server(**(settings | overrides))
        started.append(running)
        fetches = names.PROM_JWKS_FETCHES
        await wait_until(lambda: running.metric(fetches, outcome="ok") >= 1, what="JWKS")
        return running

    yield make
    for running in started:
        await running.runner.cleanup()


async def open_with(running: RunningServer, token: str) -> ClientConnection:
    ws = await connect(
        running.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
    )
    assert (await receive(ws))["type"] == "welcome"
    return ws


async def refusal(running: RunningServer, token: str) -> tuple[int, dict[str, str]]:
    with pytest.raises(InvalidStatus) as caught:
        await connect(
            running.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        )
    response = caught.value.response
    return response.status_code, json.loads(response.body)


async def assert_unharmed(running: RunningServer, key: SigningKey) -> None:
    """A fresh client connects, subscribes and gets a notification within a second."""
    async with asyncio.timeout(1.0):
        ws = await open_with(running, key.token("fresh-client"))
        await subscribe(ws, "after")
        await running.server.publish("after", "still here", {})
        assert (await receive(ws))["data"] == "still here"
    await ws.close()


async def test_audience_and_issuer_are_checked(
    make_jwks_server: Any, key_a: SigningKey
) -> None:
    running = await make_jwks_server()
    ws = await open_with(running, key_a.token("bob"))
    await ws.close()
    cases = [
        (key_a.token(aud="someone-else"), "token audience is not 'wsharness'"),
        (key_a.token(iss="https://evil.example"), "token issuer is not"),
        (jwt_without(key_a, "iss"), "token lacks claim 'iss'"),
        (jwt_without(key_a, "aud"), "token lacks claim 'aud'"),
    ]
    for token, message in cases:
        status, body = await refusal(running, token)
        assert status == 401 and message in body["message"], body
    assert running.metric(names.PROM_HANDSHAKES, outcome="unauthorized") == len(cases)
    await assert_unharmed(running, key_a)


def jwt_without(key: SigningKey, claim: str) -> str:
    body = {"sub": "carol", "exp": time.time() + 300, "iss": ISSUER, "aud": AUDIENCE}
    del body[claim]
    return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid})


async def test_rotated_key_is_fetched_on_first_use(
    make_jwks_server: Any, endpoint: JwksEndpoint, key_a: SigningKey, key_b: SigningKey
) -> None:
    running = await make_jwks_server(jwks_refetch_seconds=0)
    endpoint.keys.append(key_b)  # the identity provider rotates
    ws = await open_with(running, key_b.token("dave"))  # first attempt, no 401
    await ws.close()
    assert running.metric(names.PROM_JWKS_FETCHES, outcome="ok") == 2
    await assert_unharmed(running, key_b)
    await assert_unharmed(running, key_a)


async def test_unknown_kid_stream_against_a_slow_jwks_stalls_nothing(
    make_jwks_server: Any, endpoint: JwksEndpoint, key_a: SigningKey
) -> None:
    running = await make_jwks_server(jwks_refetch_seconds=0)
    bystander = await open_with(running, key_a.token("bystander"))
    endpoint.delay = 2.0  # the identity provider is slow from now on
    before = endpoint.requests
    strangers = [SigningKey(f"unknown-{n}") for n in range(3)]
    storm = [
        asyncio.create_task(refusal(running, strangers[n % 3].token(f"s{n}")))
        for n in range(60)
    ]
    answered = endpoint.answered
    await wait_until(lambda: endpoint.requests > before, what="the refetch to start")
    # While the refetch hangs on the slow endpoint, everyone else is served at once
    # (a fetch on the event loop would hold this test's own code until it is done).
    await send(bystander, "echo", id="ping")
    assert (await receive(bystander, timeout=1.0))["id"] == "ping"
    await assert_unharmed(running, key_a)
    assert endpoint.answered == answered, "served only after the slow fetch ended"
    results = await asyncio.gather(*storm)
    assert all(status == 401 for status, _ in results)
    assert all("unknown signing key" in body["message"] for _, body in results)
    assert endpoint.requests - before == 1  # one refetch served the whole storm
    outcome = {"outcome": "unknown_key"}
    assert running.metric(names.PROM_HANDSHAKES, **outcome) == 60
    await bystander.close()


async def test_unknown_kid_refetches_are_rate_limited(
    make_jwks_server: Any, endpoint: JwksEndpoint, key_a: SigningKey
) -> None:
    running = await make_jwks_server(jwks_refetch_seconds=60)
    before = endpoint.requests
    stranger = SigningKey("unknown")
    for n in range(20):
        status, body = await refusal(running, stranger.token(f"s{n}"))
        assert status == 401 and "unknown signing key" in body["message"]
    assert endpoint.requests == before  # the startup fetch was within the interval
    assert running.metric(names.PROM_JWKS_FETCHES, outcome="rate_limited") == 20
    await assert_unharmed(running, key_a)


async def test_jwks_down_keeps_serving_with_cached_keys(
    make_jwks_server: Any, endpoint: JwksEndpoint, key_a: SigningKey
) -> None:
    running = await make_jwks_server(jwks_refresh_seconds=0.1, jwks_refetch_seconds=0.1)
    endpoint.failing = True
    failed = names.PROM_JWKS_FETCHES
    await wait_until(lambda: running.metric(failed, outcome="failed") >= 2, what="503s")
    await assert_unharmed(running, key_a)
    endpoint.stop()  # now the port refuses connections
    failures = running.metric(failed, outcome="failed")
    await wait_until(lambda: running.metric(failed, outcome="failed") >= failures + 2)
    await assert_unharmed(running, key_a)
    status, body = await refusal(running, SigningKey("unknown").token())
    assert status == 401 and "unknown signing key" in body["message"]


async def test_a_pem_public_key_verifies_rs256_and_es256(make_server: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    rsa_key = SigningKey("unused")
    ec_private = ec.generate_private_key(ec.SECP256R1())
    for private, algorithm in ((rsa_key.private, "RS256"), (ec_private, "ES256")):
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        running = await make_server(jwt_secret=None, jwt_public_key=pem.decode())
        good = jwt.encode({"sub": "pem", "exp": time.time() + 60}, private, algorithm)
        ws = await open_with(running, good)
        await ws.close()
        status, body = await refusal(running, SigningKey("other").token())
        expected = "bad token signature" if algorithm == "RS256" else "does not match"
        assert status == 401 and expected in body["message"], body


async def test_a_jwks_endpoint_that_hangs_times_out_and_cached_keys_serve(
    make_jwks_server: Any, endpoint: JwksEndpoint, key_a: SigningKey
) -> None:
    running = await make_jwks_server(jwks_refresh_seconds=0.1)
    endpoint.delay = 10.0  # far past the fetch timeout
    before = endpoint.requests
    await wait_until(lambda: endpoint.requests > before, what="a refresh to start")
    await assert_unharmed(running, key_a)  # while the refresh hangs
    failed = names.PROM_JWKS_FETCHES
    limit = jwks.FETCH_TIMEOUT_SECONDS + 2
    await wait_until(lambda: running.metric(failed, outcome="failed") >= 1, timeout=limit)
    await assert_unharmed(running, key_a)
