"""loadclient/stamp.py: the stamp found again in whatever shape a server relays."""

from __future__ import annotations

import json
import time

import pytest

from wsharness.loadclient import stamp as stamps
from wsharness.loadclient.stamp import (
    STAMP_KEY,
    Stamp,
    StampPathError,
    encode_payload,
    find_stamp,
    find_stamps,
    new_stamp,
    parse_path,
    stamped_payload,
)

STAMP = Stamp("publisher-3f2a", 17, 1718000000123.456, "news")
PAYLOAD = stamped_payload(STAMP, pad="x" * 32)
TEXT = encode_payload(PAYLOAD)


def test_a_new_stamp_carries_the_publish_time_in_epoch_milliseconds() -> None:
    before = time.time() * 1000
    made = new_stamp("publisher-1", 3, topic="news")
    after = time.time() * 1000
    assert (made.publisher, made.sequence, made.topic) == ("publisher-1", 3, "news")
    assert before - 1 <= made.published_at_ms <= after + 1
    assert made.stream == ("news", "publisher-1")


@pytest.mark.parametrize("publisher", ['pub"lisher', "pub\\x", "", "a b"])
def test_publisher_names_that_would_need_escaping_are_refused(publisher: str) -> None:
    if publisher == "":
        assert new_stamp(publisher, 1).publisher == ""
        return
    with pytest.raises(ValueError, match="publisher"):
        new_stamp(publisher, 1)


def test_the_payload_is_a_json_object_with_the_stamp_under_one_key() -> None:
    decoded = json.loads(TEXT)
    assert decoded[STAMP_KEY] == {
        "pub": "publisher-3f2a",
        "seq": 17,
        "at": 1718000000123.456,
        "topic": "news",
    }
    assert decoded["pad"] == "x" * 32


SHAPES = {
    "the frame itself": TEXT,
    "an envelope": json.dumps({"type": "notification", "data": PAYLOAD}),
    "spaced and indented": json.dumps({"event": {"body": PAYLOAD}}, indent=2),
    "a JSON string in a field (Pub/Sub data)": json.dumps({"data": TEXT}),
    "a JSON string in a JSON string": json.dumps({"m": json.dumps({"data": TEXT})}),
    "socket.io arguments": json.dumps(["notification", PAYLOAD]),
    "keys reordered by the relay": json.dumps(
        {
            "x": {
                STAMP_KEY: {
                    "topic": "news",
                    "at": STAMP.published_at_ms,
                    "seq": 17,
                    "pub": "publisher-3f2a",
                }
            }
        }
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_the_stamp_is_found_in_every_shape_a_relay_gives(shape: str) -> None:
    assert find_stamps(SHAPES[shape]) == [STAMP]


def test_a_stamp_without_a_topic_is_found_with_an_empty_topic() -> None:
    bare = Stamp("p1", 1, 5.0)
    assert find_stamp(encode_payload(stamped_payload(bare))) == bare
    assert (
        find_stamp(json.dumps({"d": {STAMP_KEY: {"seq": 1, "pub": "p1", "at": 5}}})) == bare
    )


def test_a_batched_frame_gives_every_stamp_in_order() -> None:
    batch = [stamped_payload(Stamp("p", n, 1000.0 + n)) for n in (1, 2, 3)]
    assert [s.sequence for s in find_stamps(json.dumps({"messages": batch}))] == [1, 2, 3]


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"welcome"}',
        "plain text, no JSON",
        '{"note": "mentions wsh_stamp in prose"}',
        json.dumps({STAMP_KEY: {"pub": "p", "seq": -1, "at": 1}}),
        json.dumps({STAMP_KEY: {"pub": "p", "seq": "1", "at": 1}}),
        json.dumps({STAMP_KEY: {"pub": "p", "seq": True, "at": 1}}),
        json.dumps({STAMP_KEY: {"pub": 7, "seq": 1, "at": 1}}),
        json.dumps({STAMP_KEY: "not an object"}),
        '{"wsh_stamp": {"pub": "p", "seq": 1, ',  # cut short
    ],
)
def test_frames_without_a_valid_stamp_give_none(frame: str) -> None:
    assert find_stamps(frame) == []


def test_a_frame_without_the_key_is_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(_text: str) -> None:
        raise AssertionError("decoded a frame that has no stamp")

    monkeypatch.setattr(stamps, "_decode", no_decoding)
    assert (
        find_stamps(json.dumps({"type": "message", "data": {"x": [1, 2, 3] * 100}})) == []
    )
    assert find_stamps(TEXT) == [STAMP]  # the fast path reads a compact stamp undecoded
    assert find_stamps(json.dumps({"data": TEXT})) == [STAMP]  # and an escaped one


REORDERED = {STAMP_KEY: {"at": 5.0, "seq": 1, "pub": "p1"}}  # the fast path cannot read it


def nested(value: object, levels: int) -> object:
    for _ in range(levels):
        value = {"k": {"v": value}}
    return value


def test_the_search_is_bounded_in_depth() -> None:
    shallow = nested(REORDERED, 2)
    too_deep = nested(REORDERED, stamps.MAX_DEPTH)
    assert find_stamps(json.dumps(shallow)) == [Stamp("p1", 1, 5.0)]
    assert find_stamps(json.dumps(too_deep)) == []
    assert find_stamps(json.dumps(nested(PAYLOAD, 40))) == [STAMP]  # fast path: any depth


def test_the_search_is_bounded_in_nodes() -> None:
    wide = {"items": list(range(stamps.MAX_NODES)), "z": {"y": REORDERED}}
    assert find_stamps(json.dumps(wide)) == []
    assert find_stamps(json.dumps({"items": list(range(10)), "z": {"y": REORDERED}})) != []


def test_a_path_names_where_the_payload_sits() -> None:
    other = Stamp("other", 1, 1.0)
    frame = json.dumps({"data": {"payload": TEXT}, "meta": stamped_payload(other)})
    assert find_stamps(frame) == [STAMP, other]
    assert find_stamps(frame, parse_path("data.payload")) == [STAMP]
    assert find_stamps(frame, parse_path("meta")) == [other]
    assert find_stamps(frame, parse_path("data.missing")) == []
    assert find_stamps(json.dumps(["event", PAYLOAD]), parse_path("1")) == [STAMP]
    assert find_stamps(json.dumps(["event", PAYLOAD]), parse_path("5")) == []


@pytest.mark.parametrize("text", ["data..payload", ".data", "data."])
def test_a_malformed_path_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(StampPathError, match=r"data\.payload"):
        parse_path(text)


def test_an_empty_path_means_the_default_search() -> None:
    assert parse_path(None) is None
    assert parse_path("  ") is None
    assert parse_path("data.0.body") == ("data", 0, "body")
