"""parse_server_frame: every server frame type as a typed event, leniently."""

from __future__ import annotations

import pytest

from wsharness.contract.protocol import (
    Echoed,
    ErrorCode,
    Message,
    ProtocolError,
    Published,
    Refreshed,
    ServerErrorFrame,
    ServerType,
    Subscribed,
    TokenExpiring,
    UnknownFrame,
    Unsubscribed,
    Welcome,
    encode,
    parse_server_frame,
)


@pytest.mark.parametrize(
    ("text", "event"),
    [
        (
            encode(ServerType.WELCOME, connection_id="c1", sub="s", expires_at=5),
            Welcome("c1", "s", 5.0),
        ),
        (
            encode(ServerType.SUBSCRIBED, topic="t", recovered=False, replayed=0),
            Subscribed("t", False, 0),
        ),
        (encode(ServerType.UNSUBSCRIBED, topic="t"), Unsubscribed("t")),
        (
            encode(
                ServerType.MESSAGE,
                topic="t",
                id="7-1",
                data={"seq": 1},
                published_at=1700000000000,
                traceparent="00-ab-cd-01",
            ),
            Message("t", "7-1", {"seq": 1}, 1.7e12, "00-ab-cd-01"),
        ),
        (encode(ServerType.ECHO, id=3, payload="x"), Echoed(3)),
        (encode(ServerType.TOKEN_EXPIRING, expires_at=9), TokenExpiring(9.0)),
        (encode(ServerType.REFRESHED, expires_at=10), Refreshed(10.0)),
        (encode(ServerType.PUBLISHED, topic="t", id="8"), Published("t", "8")),
        (
            encode(ServerType.ERROR, code="forbidden", message="no"),
            ServerErrorFrame("forbidden", "no"),
        ),
    ],
)
def test_each_frame_type_becomes_its_event(text: str, event: object) -> None:
    assert parse_server_frame(text) == event
    assert parse_server_frame(text.encode()) == event  # bytes straight off the socket


def test_missing_or_mistyped_fields_get_neutral_values() -> None:
    message = parse_server_frame(b'{"type":"message","topic":"t","published_at":"soon"}')
    assert message == Message("t", None, None, None, None)
    assert parse_server_frame(b'{"type":"subscribed","topic":"t"}') == Subscribed(
        "t", True, 0
    )


def test_an_unknown_type_keeps_its_fields() -> None:
    assert parse_server_frame(b'{"id":4,"x":1}') == UnknownFrame({"id": 4, "x": 1})


@pytest.mark.parametrize(
    ("text", "code"), [(b"not json", ErrorCode.BAD_JSON), (b"[1]", ErrorCode.BAD_MESSAGE)]
)
def test_what_is_not_a_json_object_is_a_protocol_error(text: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse_server_frame(text)
    assert raised.value.code == code
