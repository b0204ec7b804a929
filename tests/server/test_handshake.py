"""The upgrade: every refusal happens before the upgrade, with a status and a reason."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from tests.support.clients import open_socket, receive
from tests.support.servers import SECRET, RunningServer, token
from wsharness.contract.tokens import Identity, InvalidToken, KeySet, TokenVerifier, mint
from wsharness.server import handshake


async def refused(url: str, **headers: str) -> tuple[int, Headers, dict[str, str]]:
    """Try an upgrade; return the refusal's status, headers and JSON body."""
    with pytest.raises(InvalidStatus) as caught:
        await connect(url, additional_headers=headers)
    response = caught.value.response
    return response.status_code, response.headers, json.loads(response.body)


async def test_missing_token_is_401_with_reason(server: RunningServer) -> None:
    status, _, body = await refused(server.ws_url)
    assert status == 401
    assert body["error"] == "unauthorized" and "missing token" in body["message"]
    assert server.metric("wsh_handshakes_total", outcome="unauthorized") == 1


async def test_bad_signature_and_expired_tokens_are_401(server: RunningServer) -> None:
    forged = mint("another-secret-that-is-long-enough-too", "mallory")
    status, _, body = await refused(server.ws_url, Authorization=f"Bearer {forged}")
    assert (status, body["message"]) == (401, "bad token signature")
    expired = token(ttl=-5)
    status, _, body = await refused(server.ws_url, Authorization=f"Bearer {expired}")
    assert (status, body["message"]) == (401, "token expired")


async def test_access_token_query_parameter_authenticates(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}?access_token={token('bob')}") as ws:
        welcome = await receive(ws)
    assert welcome["sub"] == "bob"
    assert server.metric("wsh_handshakes_total", outcome="accepted") == 1


async def test_origin_outside_allow_list_is_403(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(allowed_origins=["https://app.example"])
    auth = f"Bearer {token()}"
    status, _, body = await refused(
        running.ws_url, Authorization=auth, Origin="https://evil.example"
    )
    assert status == 403 and body["error"] == "forbidden_origin"
    async with connect(
        running.ws_url,
        additional_headers={"Authorization": auth},
        origin=Origin("https://app.example"),
    ) as ws:
        assert (await receive(ws))["type"] == "welcome"


async def test_full_instance_is_503_with_retry_after(make_server) -> None:  # type: ignore[no-untyped-def]
    running = await make_server(max_connections=1)
    first = await open_socket(running.ws_url)
    status, headers, body = await refused(running.ws_url, Authorization=f"Bearer {token()}")
    assert status == 503 and body["error"] == "full"
    assert int(headers["Retry-After"]) > 0
    await first.close()


async def test_draining_instance_is_503_and_not_ready(server: RunningServer) -> None:
    server.server.draining = True
    status, headers, body = await refused(server.ws_url, Authorization=f"Bearer {token()}")
    assert status == 503 and body["error"] == "draining" and "Retry-After" in headers
    async with aiohttp.ClientSession() as http:
        async with http.get(server.http_url + "/readyz") as response:
            assert response.status == 503
            assert (await response.json())["draining"] is True
        async with http.get(server.http_url + "/healthz") as response:
            assert response.status == 200


async def test_plain_get_is_400_and_wrong_version_is_426(server: RunningServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.ws_url.replace("ws://", "http://")) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "bad_request"
        upgrade = {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "8",
        }
        async with http.get(
            server.ws_url.replace("ws://", "http://"), headers=upgrade
        ) as response:
            assert response.status == 426
            assert response.headers["Sec-WebSocket-Version"] == "13"


def test_bearer_header_wins_over_query_parameter() -> None:
    headers = {"Authorization": "Bearer from-header"}
    assert handshake.bearer_token(headers, {"access_token": "from-query"}) == "from-header"
    assert handshake.bearer_token({}, {"access_token": "from-query"}) == "from-query"
    assert handshake.bearer_token({"Authorization": "Basic abc"}, {}) is None


def test_authenticate_returns_identity_with_scope_and_topics() -> None:
    verifier = TokenVerifier(secret=SECRET)
    identity = handshake.authenticate(
        token("carol", scope="publish", topics=["a.*"]), verifier
    )
    assert not isinstance(identity, handshake.Refusal)
    assert identity.can_publish and identity.may_use("a.b") and not identity.may_use("b")


# -- the verified-token cache (issue 11, item 13) -------------------------------------


async def test_reconnect_with_the_same_token_is_served_from_the_cache(
    server: RunningServer,
) -> None:
    same = token("eve")
    for _ in range(3):
        ws = await open_socket_with(server.ws_url, same)
        await ws.close()
    cache = server.server.verifier.cache
    assert (cache.hits, cache.misses) == (2, 1)
    assert server.metric("wsh_handshakes_total", outcome="accepted") == 3


async def test_a_cached_token_still_expires_at_exp(server: RunningServer) -> None:
    short = token("frank", ttl=1.0)
    expires_at = TokenVerifier(secret=SECRET).verify(short).expires_at
    ws = await open_socket_with(server.ws_url, short)  # verified, now cached
    await ws.close()
    await asyncio.sleep(max(expires_at - time.time(), 0) + 0.05)  # the clock passes exp
    status, _, body = await refused(server.ws_url, Authorization=f"Bearer {short}")
    assert (status, body["message"]) == (401, "token expired")


async def test_a_forged_signature_is_refused_after_the_real_token_was_cached(
    server: RunningServer,
) -> None:
    real = token("grace", scope="publish")
    ws = await open_socket_with(server.ws_url, real)
    await ws.close()
    head, payload, signature = real.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    status, _, body = await refused(server.ws_url, Authorization=f"Bearer {forged}")
    assert (status, body["message"]) == (401, "bad token signature")


def test_the_cache_is_bounded_and_never_holds_failures() -> None:
    verifier = TokenVerifier(secret=SECRET, cache_size=2)
    tokens = [token(f"user-{n}") for n in range(3)]
    for each in tokens:
        verifier.verify(each)
    assert len(verifier.cache) == 2
    with pytest.raises(InvalidToken):
        verifier.verify(token(ttl=-5))
    assert len(verifier.cache) == 2
    verifier.verify(tokens[0])  # evicted first: verified again
    assert verifier.cache.misses == 5 and verifier.cache.hits == 0


def test_new_keys_forget_cached_tokens() -> None:
    verifier = TokenVerifier(jwks_url="http://127.0.0.1:9/jwks.json", cache_size=10)
    verifier.cache.put(b"digest", handshake_identity())
    verifier.use_keys(KeySet({"a": "one"}))
    assert len(verifier.cache) == 0


def handshake_identity() -> Identity:
    return Identity("someone", time.time() + 60, frozenset(), None)


async def open_socket_with(url: str, jwt_token: str) -> ClientConnection:
    ws = await connect(url, additional_headers={"Authorization": f"Bearer {jwt_token}"})
    assert (await receive(ws))["type"] == "welcome"
    return ws
