"""The wire contract of ``/ws``: message types, fields and close codes, defined once.

Both the server and the load tests import from here, so a message name or a close
code is spelled in exactly one place.  Frames are JSON objects with a ``type``.
"""

from __future__ import annotations

import json
from enum import IntEnum, StrEnum
from typing import Any

WS_PATH = "/ws"
TRACEPARENT = "traceparent"


class ClientType(StrEnum):
    """Frame types a client sends."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUBLISH = "publish"
    ECHO = "echo"
    REFRESH = "refresh"


class ServerType(StrEnum):
    """Frame types the server sends."""

    WELCOME = "welcome"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    MESSAGE = "message"
    ECHO = "echo"
    TOKEN_EXPIRING = "token_expiring"
    REFRESHED = "refreshed"
    PUBLISHED = "published"
    ERROR = "error"


class CloseCode(IntEnum):
    """Close codes of the contract (RFC 6455 section 7.4 plus the 4xxx range)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    TOKEN_EXPIRED = 4001
    TOPIC_NOT_ALLOWED = 4003


CLOSE_REASONS: dict[int, str] = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.GOING_AWAY: "server going away, reconnect elsewhere",
    CloseCode.UNSUPPORTED_DATA: "binary frames are not supported",
    CloseCode.ABNORMAL: "connection lost without a close frame",
    CloseCode.INVALID_PAYLOAD: "invalid UTF-8 in a text frame",
    CloseCode.POLICY_VIOLATION: "rate limit exceeded",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.TRY_AGAIN_LATER: "slow consumer: send queue full",
    CloseCode.TOKEN_EXPIRED: "token expired",
    CloseCode.TOPIC_NOT_ALLOWED: "topic not allowed",
}


class ErrorCode(StrEnum):
    """Codes carried by ``error`` frames; the connection stays open after them."""

    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    FORBIDDEN = "forbidden"
    REFRESH_REFUSED = "refresh_refused"
    NOT_SUBSCRIBED = "not_subscribed"
    BROKER_UNAVAILABLE = "broker_unavailable"


class ProtocolError(ValueError):
    """A client frame that is not a valid message; answered with an ``error`` frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


REQUIRED_FIELDS: dict[ClientType, dict[str, type | tuple[type, ...]]] = {
    ClientType.SUBSCRIBE: {"topic": str},
    ClientType.UNSUBSCRIBE: {"topic": str},
    ClientType.PUBLISH: {"topic": str},
    ClientType.ECHO: {},
    ClientType.REFRESH: {"token": str},
}

OPTIONAL_FIELDS: dict[ClientType, dict[str, type | tuple[type, ...]]] = {
    ClientType.SUBSCRIBE: {"since": str},
    ClientType.PUBLISH: {TRACEPARENT: str},
}


def encode(frame_type: StrEnum | str, **fields: Any) -> str:
    """Serialise one frame as compact JSON text."""
    return json.dumps({"type": str(frame_type), **fields}, separators=(",", ":"))


def parse_client_frame(text: str) -> tuple[ClientType, dict[str, Any]]:
    """Parse and validate a client frame; raise :class:`ProtocolError` when invalid."""
    try:
        frame = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a frame must be a JSON object")
    raw_type = frame.get("type")
    try:
        frame_type = ClientType(raw_type)
    except ValueError:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown type {raw_type!r}") from None
    _check_fields(frame_type, frame)
    return frame_type, frame


def _check_fields(frame_type: ClientType, frame: dict[str, Any]) -> None:
    for name, kind in REQUIRED_FIELDS[frame_type].items():
        if not isinstance(frame.get(name), kind) or frame.get(name) == "":
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE, f"{frame_type} needs a non-empty {name!r}"
            )
    for name, kind in OPTIONAL_FIELDS.get(frame_type, {}).items():
        if name in frame and not isinstance(frame[name], kind):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, f"{name!r} has the wrong type")
    if frame_type is ClientType.PUBLISH and "data" not in frame:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "publish needs 'data'")
