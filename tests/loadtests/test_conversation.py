"""The client protocol core, frame by frame, no sockets: cursors, sequences, replies."""

from __future__ import annotations

import json

from wsharness.contract.protocol import (
    Echoed,
    ErrorCode,
    Message,
    Published,
    Refreshed,
    ServerErrorFrame,
    Subscribed,
    TokenExpiring,
    UnknownFrame,
    Welcome,
)
from wsharness.loadclient.conversation import (
    PUBLISHED,
    WELCOME,
    Conversation,
    RefreshDone,
    Refused,
    Reply,
    Stamped,
    StrayError,
    TokenWarning,
    read_event,
)
from wsharness.loadclient.deliveries import (
    DeliveryCounts,
    DeliverySampler,
    ProcessDeliveries,
)
from wsharness.loadclient.sequence import Verdict, stamp, stamp_of


def conversation(raw: bool = False) -> Conversation:
    return Conversation(raw, ProcessDeliveries(DeliveryCounts(), DeliverySampler()))


def message(seq: int, topic: str = "t", publisher: str = "p") -> Stamped:
    data = stamp(publisher, seq)
    return Stamped(Message(topic, f"id-{seq}", data, 1.0, None), *stamp_of(topic, data))


def test_a_resubscribe_resumes_from_the_last_id_seen() -> None:
    talk = conversation()
    key, frame = talk.subscribe("t")
    assert json.loads(frame) == {"type": "subscribe", "topic": "t"}
    assert talk.receive(Subscribed("t", True, 0)) == Reply(key, Subscribed("t", True, 0))
    talk.deliver(message(1))
    talk.deliver(message(2))
    _, again = talk.subscribe("t")
    assert json.loads(again) == {"type": "subscribe", "topic": "t", "since": "id-2"}


def test_replies_match_only_what_is_awaited() -> None:
    talk = conversation()
    assert talk.receive(Welcome("c", "s", 5.0)) is None  # nobody waits: nothing
    assert talk.expires_at == 5.0
    talk.expect(WELCOME)
    assert talk.receive(Welcome("c", "s", 6.0)) == Reply(WELCOME, Welcome("c", "s", 6.0))
    key, _ = talk.echo("x")
    assert talk.receive(Echoed(999)) is None  # another echo's reply
    assert talk.receive(Echoed(1)) == Reply(key, Echoed(1))
    assert talk.receive(Echoed(1)) is None  # answered once


def test_an_error_frame_refuses_the_pending_publish_else_it_is_stray() -> None:
    talk = conversation()
    key, frame = talk.publish("t", {"a": 1}, "00-tp")
    assert json.loads(frame)["traceparent"] == "00-tp"
    assert talk.receive(ServerErrorFrame("forbidden", "no")) == Refused(key, "forbidden")
    assert talk.receive(ServerErrorFrame("forbidden", "no")) == StrayError("forbidden")
    talk.publish("t", {}, "00-tp")
    assert talk.receive(Published("t", "1")) == Reply(PUBLISHED, Published("t", "1"))


def test_a_refresh_ends_with_refreshed_or_its_refusal() -> None:
    talk = conversation()
    talk.refresh("token", started=12.5)
    assert talk.receive(Refreshed(99.0)) == RefreshDone(12.5)
    assert talk.expires_at == 99.0
    assert talk.receive(Refreshed(100.0)) is None  # no refresh in flight
    talk.refresh("token", started=13.0)
    refused = ServerErrorFrame(ErrorCode.REFRESH_REFUSED, "sub differs")
    assert talk.receive(refused) == RefreshDone(13.0, ErrorCode.REFRESH_REFUSED)
    talk.refresh("token", started=14.0)
    talk.refresh_unsent()
    assert talk.receive(Refreshed(101.0)) is None
    warning = TokenExpiring(50.0)
    assert talk.receive(warning) == TokenWarning(warning)


def test_a_close_loses_every_awaited_reply() -> None:
    talk = conversation()
    talk.expect(WELCOME)
    key, _ = talk.subscribe("t")
    assert talk.socket_closed() == sorted([WELCOME, key])
    assert talk.pending == frozenset()
    assert talk.receive(Subscribed("t", True, 0)) is None


def test_an_unrecovered_subscribe_restarts_the_topics_sequence() -> None:
    talk = conversation()
    talk.deliver(message(1))
    talk.subscribe("t")
    talk.receive(Subscribed("t", False, 0))  # the server admits the loss
    assert talk.deliver(message(9)) is Verdict.FIRST  # not a gap counted twice


def test_deliveries_are_counted_per_socket_and_per_process() -> None:
    process = ProcessDeliveries(DeliveryCounts(), DeliverySampler())
    one, two = Conversation(process=process), Conversation(process=process)
    for seq in (1, 2, 5, 5, 3):  # gap of 2 (3, 4), a duplicate, 3 late
        one.deliver(message(seq))
    two.deliver(message(1))
    assert one.counts.as_dict() == {
        "delivered": 4,
        "missing": 1,
        "duplicate": 1,
        "out_of_order": 1,
    }
    assert process.counts.delivered == 5
    assert process.counts.missing == 1
    assert process.sockets_with_gaps == 1


def test_raw_mode_matches_any_object_with_an_id_as_an_echo() -> None:
    talk = conversation(raw=True)
    key, _ = talk.echo("x")
    assert talk.receive(UnknownFrame({"id": 1, "payload": "x"})) == Reply(key, Echoed(1))
    assert conversation().receive(UnknownFrame({"id": 1})) is None


def test_identical_frames_are_parsed_once() -> None:
    payload = b'{"type":"message","topic":"t","id":"1","data":null,"published_at":1}'
    first = read_event(payload)
    assert isinstance(first, Stamped)
    assert first.key is None  # no sequence stamp in its data
    assert read_event(bytes(bytearray(payload))) is first  # another socket, same bytes
    assert read_event(b"not json") is None


def test_the_sampler_times_all_below_the_bound_and_a_fair_share_above() -> None:
    process = ProcessDeliveries(DeliveryCounts(), DeliverySampler(bound=100))
    process.tick(0.0)
    process.counts.delivered = 50
    process.tick(1.0)
    assert process.sampler.ratio == 1.0
    assert all(process.sampler.take() for _ in range(500))
    process.counts.delivered += 1000
    process.tick(2.0)
    assert process.sampler.ratio == 0.1
    taken = sum(process.sampler.take() for _ in range(20_000))
    assert 1600 < taken < 2400  # 2,000 expected; binomial sd ~42
    assert process.snapshot()["timed"] == 500 + taken
