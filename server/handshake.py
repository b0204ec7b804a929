"""The upgrade decision: who may open a socket, settled before any upgrade.

Pure: it reads request facts and returns either an :class:`Identity` or a
:class:`Refusal` with the HTTP status, a machine-readable reason and a message.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field

from wsharness.contract.tokens import Identity, InvalidToken, TokenVerifier, UnknownKey

SUPPORTED_VERSION = "13"
KEY_BYTES = 16  # Sec-WebSocket-Key: base64 of 16 random bytes (RFC 6455 section 4.1)
MIN_HTTP_VERSION = (1, 1)  # an upgrade needs HTTP/1.1 or later (RFC 6455 section 4.1)
UNKNOWN_KEY = "unknown_key"  # a 401 that a refetch of the JWKS may turn into a welcome


@dataclass(frozen=True, slots=True)
class Refusal:
    """An upgrade answered with an HTTP error instead of 101."""

    status: int
    reason: str  # also the metric outcome
    message: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Capacity:
    """Whether the instance takes another socket right now."""

    open_connections: int
    max_connections: int
    draining: bool
    retry_after_seconds: int = 5


def check_websocket_request(
    method: str, headers: Mapping[str, str], http_version: tuple[int, int] = (1, 1)
) -> Refusal | None:
    """400 for a request that is not a WebSocket upgrade, 426 for a wrong version.

    An HTTP/1.0 request's ``Upgrade`` header means nothing (RFC 9110 section 7.8: a
    server MUST ignore it), so it is refused 400 as ``http_version``; a key that is not
    base64 of 16 bytes is refused 400 as ``bad_key``.
    """
    upgrade = headers.get("Upgrade", "").lower()
    connection = headers.get("Connection", "").lower()
    if method != "GET" or upgrade != "websocket" or "upgrade" not in connection:
        return Refusal(400, "bad_request", "expected a WebSocket upgrade (GET, Upgrade)")
    if tuple(http_version) < MIN_HTTP_VERSION:
        major, minor = http_version
        return Refusal(
            400,
            "http_version",
            f"a WebSocket upgrade needs HTTP/1.1 or later, not HTTP/{major}.{minor}",
        )
    key = headers.get("Sec-WebSocket-Key")
    if not key:
        return Refusal(400, "bad_key", "missing Sec-WebSocket-Key")
    if not valid_key(key):
        return Refusal(400, "bad_key", "Sec-WebSocket-Key must be base64 of 16 bytes")
    if headers.get("Sec-WebSocket-Version") != SUPPORTED_VERSION:
        return Refusal(
            426,
            "upgrade_required",
            f"unsupported WebSocket version; use {SUPPORTED_VERSION}",
            {"Sec-WebSocket-Version": SUPPORTED_VERSION},
        )
    return None


def valid_key(key: str) -> bool:
    """True for base64 (strict alphabet, padded) of exactly 16 bytes."""
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def check_capacity(capacity: Capacity) -> Refusal | None:
    """503 with Retry-After while draining or full."""
    retry = {"Retry-After": str(capacity.retry_after_seconds)}
    if capacity.draining:
        return Refusal(503, "draining", "instance is draining; reconnect elsewhere", retry)
    if capacity.open_connections >= capacity.max_connections:
        return Refusal(503, "full", "instance is at its connection limit", retry)
    return None


def check_origin(origin: str | None, allowed: list[str]) -> Refusal | None:
    """403 for a browser Origin outside the allow-list (no list or no Origin: allowed)."""
    if allowed and origin is not None and origin not in allowed:
        return Refusal(403, "forbidden_origin", f"origin {origin!r} is not allowed")
    return None


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer`` or ``?access_token=``."""
    authorization = headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return query.get("access_token") or None


def authenticate(token: str | None, verifier: TokenVerifier) -> Identity | Refusal:
    """401 for a missing, invalid or expired token; the identity otherwise.

    A token signed with a key the verifier does not know yet is refused as
    :data:`UNKNOWN_KEY`: the shell may refetch the JWKS and try once more.
    """
    if token is None:
        return Refusal(
            401, "unauthorized", "missing token (Authorization: Bearer or ?access_token=)"
        )
    try:
        return verifier.verify(token)
    except UnknownKey as exc:
        return Refusal(401, UNKNOWN_KEY, str(exc))
    except InvalidToken as exc:
        return Refusal(401, "unauthorized", str(exc))
