"""The wire contract of ``/ws``: message types, fields and close codes, defined once.

Both the server and the load tests import from here, so a message name or a close
code is spelled in exactly one place.  Frames are JSON objects with a ``type``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, NoReturn

WS_PATH = "/ws"
TRACEPARENT = "traceparent"
# Publish data nested deeper than this is refused (``bad_json``): it is serialised
# again for every subscriber, and a deep enough value would overflow the encoder.
MAX_DATA_DEPTH = 64


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
    PROTOCOL_ERROR = 1002
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
    CloseCode.PROTOCOL_ERROR: "protocol error",
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
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    TOPIC_TOO_LONG = "topic_too_long"


class ProtocolError(ValueError):
    """A client frame that is not a valid message; answered with an ``error`` frame.

    ``reason`` says more precisely why (the metric label), e.g. ``json_too_deep``
    for a ``bad_json``; it defaults to the code.
    """

    def __init__(self, code: ErrorCode, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason or code.value


_CLIENT_TYPES = {member.value: member for member in ClientType}

REQUIRED_FIELDS: dict[ClientType, dict[str, type | tuple[type, ...]]] = {
    ClientType.SUBSCRIBE: {"topic": str},
    ClientType.UNSUBSCRIBE: {"topic": str},
    ClientType.PUBLISH: {"topic": str},
    ClientType.ECHO: {},
    ClientType.REFRESH: {"token": str},
}

OPTIONAL_FIELDS: dict[ClientType, dict[str, type | tuple[type, ...]]] = {
    ClientType.SUBSCRIBE: {"since": str},
}


def encode(frame_type: StrEnum | str, **fields: Any) -> str:
    """Serialise one frame as compact, standard JSON text (no NaN or Infinity)."""
    return json.dumps(
        {"type": str(frame_type), **fields}, separators=(",", ":"), allow_nan=False
    )


def _refuse_constant(name: str) -> NoReturn:
    raise ProtocolError(
        ErrorCode.BAD_JSON, f"{name} is not standard JSON", reason="non_standard_json"
    )


# One decoder, built once: ``json.loads`` with a keyword would build one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def loads_strict(text: str) -> Any:
    """Standard JSON only: NaN, Infinity and nesting too deep for the parser are
    refused like any malformed text, with :class:`ProtocolError` (``bad_json``)."""
    try:
        return _DECODER.decode(text)
    except ProtocolError:
        raise
    except RecursionError:
        raise ProtocolError(
            ErrorCode.BAD_JSON, "JSON nested too deeply", reason="json_too_deep"
        ) from None
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not JSON: {exc}") from None


def check_data(data: Any, depth: int = 1) -> None:
    """Refuse publish data nested deeper than :data:`MAX_DATA_DEPTH` or holding a
    number JSON cannot carry (``1e999`` parses as infinity)."""
    kind = type(data)
    if kind is dict:
        children: Any = data.values()
    elif kind is list:
        children = data
    else:
        if kind is float and not math.isfinite(data):
            raise ProtocolError(
                ErrorCode.BAD_JSON, "number out of range", reason="non_standard_json"
            )
        return
    if depth > MAX_DATA_DEPTH:
        raise ProtocolError(
            ErrorCode.BAD_JSON,
            f"data nested deeper than {MAX_DATA_DEPTH} levels",
            reason="json_too_deep",
        )
    for child in children:
        if type(child) in _SCANNED:
            check_data(child, depth + 1)


_SCANNED = frozenset((dict, list, float))  # what check_data must look into


def parse_publish_request(text: str) -> tuple[str, Any]:
    """The ``{"topic", "data"}`` body of ``POST /publish``; :class:`ProtocolError`
    when it is not standard JSON or not that shape."""
    body = loads_strict(text)
    if not isinstance(body, dict) or not _non_empty_str(body.get("topic")):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, 'expected {"topic": str, "data": ...}')
    if "data" not in body:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, 'expected {"topic": str, "data": ...}')
    check_data(body["data"])
    return body["topic"], body["data"]


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def parse_client_frame(text: str) -> tuple[ClientType, dict[str, Any]]:
    """Parse and validate a client frame; raise :class:`ProtocolError` when invalid."""
    frame = loads_strict(text)
    if not isinstance(frame, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a frame must be a JSON object")
    raw_type = frame.get("type")
    frame_type = _CLIENT_TYPES.get(raw_type) if isinstance(raw_type, str) else None
    if frame_type is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown type {repr(raw_type)[:64]}")
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
    if TRACEPARENT in frame and not isinstance(frame[TRACEPARENT], str):
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE, "'traceparent' must be a string", "bad_traceparent"
        )
    if frame_type is ClientType.PUBLISH:
        if "data" not in frame:
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "publish needs 'data'")
        check_data(frame["data"])


# --- frames the server sends, as typed events (read by the load client) -----------


@dataclass(frozen=True, slots=True)
class Welcome:
    connection_id: str
    sub: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Subscribed:
    topic: str
    recovered: bool
    replayed: int


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    topic: str


@dataclass(frozen=True, slots=True)
class Message:
    """One notification; ``published_at`` None when the server did not stamp it."""

    topic: str
    id: str | None
    data: Any
    published_at: float | None
    traceparent: str | None


@dataclass(frozen=True, slots=True)
class Echoed:
    """An echo reply: the client's own frame back (``id`` is its correlation key)."""

    id: Any


@dataclass(frozen=True, slots=True)
class TokenExpiring:
    expires_at: float


@dataclass(frozen=True, slots=True)
class Refreshed:
    expires_at: float


@dataclass(frozen=True, slots=True)
class Published:
    topic: str
    id: str | None


@dataclass(frozen=True, slots=True)
class ServerErrorFrame:
    """An ``error`` frame: the server refused one client frame; the socket stays."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    """A JSON object of no known type (a raw echo endpoint's reply, a newer server)."""

    fields: dict[str, Any]


ServerEvent = (
    Welcome
    | Subscribed
    | Unsubscribed
    | Message
    | Echoed
    | TokenExpiring
    | Refreshed
    | Published
    | ServerErrorFrame
    | UnknownFrame
)


def parse_server_frame(text: str | bytes) -> ServerEvent:
    """Read one server text frame as a typed event; raise :class:`ProtocolError`.

    Lenient about fields, as a client should be: a missing or mistyped field gets a
    neutral value (``""``, ``None``, ``0``) rather than failing the frame, so a
    server that differs in a detail is still measured.
    """
    try:
        frame = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "a frame must be a JSON object")
    frame_type = frame.get("type")
    read = _SERVER_READERS.get(frame_type) if isinstance(frame_type, str) else None
    return UnknownFrame(frame) if read is None else read(frame)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _message(frame: dict[str, Any]) -> Message:
    return Message(
        _text(frame.get("topic")),
        _optional_text(frame.get("id")),
        frame.get("data"),
        _number(frame.get("published_at")),
        _optional_text(frame.get(TRACEPARENT)),
    )


_SERVER_READERS: dict[str, Callable[[dict[str, Any]], ServerEvent]] = {
    ServerType.MESSAGE: _message,
    ServerType.WELCOME: lambda f: Welcome(
        _text(f.get("connection_id")),
        _text(f.get("sub")),
        _number(f.get("expires_at")) or 0,
    ),
    ServerType.SUBSCRIBED: lambda f: Subscribed(
        _text(f.get("topic")),
        f.get("recovered") is not False,
        int(_number(f.get("replayed")) or 0),
    ),
    ServerType.UNSUBSCRIBED: lambda f: Unsubscribed(_text(f.get("topic"))),
    ServerType.ECHO: lambda f: Echoed(f.get("id")),
    ServerType.TOKEN_EXPIRING: lambda f: TokenExpiring(_number(f.get("expires_at")) or 0),
    ServerType.REFRESHED: lambda f: Refreshed(_number(f.get("expires_at")) or 0),
    ServerType.PUBLISHED: lambda f: Published(
        _text(f.get("topic")), _optional_text(f.get("id"))
    ),
    ServerType.ERROR: lambda f: ServerErrorFrame(
        _text(f.get("code")), _text(f.get("message"))
    ),
}
