"""The sans-I/O core: one frame in, what to do out, no sockets (as websockets'
tests/test_protocol.py tests its protocol)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from wsharness.contract.notification import Notification
from wsharness.contract.protocol import CloseCode, ErrorCode, ServerType
from wsharness.contract.tokens import Identity
from wsharness.server.core import (
    BINARY_FRAME,
    CONTROL_RATE_LIMITED,
    RATE_LIMITED,
    TOKEN_EXPIRED,
    AwaitCursor,
    Close,
    Core,
    Publish,
    Refreshed,
    Refuse,
    Reply,
    Subscribed,
    Verify,
)
from wsharness.server.hub import Hub
from wsharness.server.policy import Limits
from wsharness.server.session import Session

NOW_MS = 1_000_000


@dataclass(eq=False)
class Sock:
    """A socket as the core sees it: a session, and itself as the hub's key."""

    session: Session


def identity(
    sub: str = "alice",
    expires_at: float = 1_000.0,
    scopes: frozenset[str] = frozenset(),
    topics: tuple[str, ...] | None = None,
) -> Identity:
    return Identity(sub=sub, expires_at=expires_at, scopes=scopes, topics=topics)


def sock(burst: int = 100, **claims: object) -> Sock:
    session = Session("c1", identity(**claims), now=0.0, rate_per_second=10,  # type: ignore[arg-type]
                      burst=burst, warning_seconds=60)  # fmt: skip
    return Sock(session)


def core(resume_wait_seconds: float = 0.0, **limits: int) -> Core[Sock]:
    hub: Hub[Sock] = Hub(history_size=10, history_seconds=60)
    return Core(hub, Limits(**limits), resume_wait_seconds, wall_ms=lambda: NOW_MS)


def frame(frame_type: str, **fields: object) -> str:
    return json.dumps({"type": frame_type, **fields})


def error_code(outcome: object) -> ErrorCode:
    assert isinstance(outcome, Refuse), outcome
    assert json.loads(outcome.text)["code"] == outcome.code
    return outcome.code


# -- frames in -------------------------------------------------------------------------


def test_welcome_names_the_connection_subject_and_expiry() -> None:
    s = sock()
    reply = core().welcome(s.session)
    assert reply.frame_type is ServerType.WELCOME
    assert json.loads(reply.text) == {"type": "welcome", "connection_id": "c1",
                                      "sub": "alice", "expires_at": 1_000_000}  # fmt: skip


def test_echo_sends_back_the_very_text() -> None:
    text = '{"type": "echo",  "id": 7, "payload": [1, 2]}'
    assert core().receive_text(sock(), text, now=0) == Reply(text, ServerType.ECHO)


def test_accept_hands_a_valid_frame_over_for_handling() -> None:
    accepted = core().accept(sock(), frame("subscribe", topic="t"), now=0)
    assert isinstance(accepted, tuple) and accepted[1]["topic"] == "t"


def test_past_the_rate_budget_the_socket_closes_1008() -> None:
    c, s = core(), sock(burst=2)
    outcomes = [c.receive_text(s, frame("echo"), now=0) for _ in range(3)]
    assert outcomes[2] is RATE_LIMITED and RATE_LIMITED.code is CloseCode.POLICY_VIOLATION


def test_pings_and_pongs_spend_the_same_budget() -> None:
    c, s = core(), sock(burst=2)
    assert c.receive_control(s, now=0) is None
    assert c.receive_text(s, frame("echo"), now=0) == Reply(frame("echo"), ServerType.ECHO)
    assert c.receive_control(s, now=0) is CONTROL_RATE_LIMITED
    assert c.receive_control(s, now=1.0) is None  # refilled


def test_binary_frames_close_1003() -> None:
    assert core().receive_binary() is BINARY_FRAME
    assert BINARY_FRAME.code is CloseCode.UNSUPPORTED_DATA


def test_malformed_frames_are_refused_with_a_precise_reason() -> None:
    c, s = core(), sock()
    cases = {
        "{nope": ("bad_json", "bad_json"),
        "[" * 1200 + "]" * 1200: ("bad_json", "json_too_deep"),
        '{"type": "echo", "x": NaN}': ("bad_json", "non_standard_json"),
        '{"type": "echo", "traceparent": 1}': ("bad_message", "bad_traceparent"),
        '{"type": "dance"}': ("unknown_type", "unknown_type"),
    }
    for text, (code, reason) in cases.items():
        outcome = c.receive_text(s, text, now=0)
        assert error_code(outcome) == code and outcome.reason == reason, text  # type: ignore[union-attr]


# -- subscriptions ---------------------------------------------------------------------


def test_subscribe_is_kept_in_the_hub_and_answered() -> None:
    c, s = core(), sock()
    outcome = c.receive_text(s, frame("subscribe", topic="news"), now=0)
    assert outcome == Subscribed(
        '{"type":"subscribed","topic":"news","recovered":true,"replayed":0}', (), None
    )
    assert c.hub.topics_of(s) == {"news"} and c.hub.subscribers("news") == {s}


def test_resume_replays_what_was_missed() -> None:
    c, s = core(), sock()
    for number in (1, 2, 3):
        c.hub.route(Notification("t", f"m{number}", number, NOW_MS), NOW_MS)
    outcome = c.receive_text(s, frame("subscribe", topic="t", since="m1"), now=0)
    assert isinstance(outcome, Subscribed) and outcome.resume == "recovered"
    assert [entry.id for entry in outcome.entries] == ["m2", "m3"]
    lost = c.receive_text(sock(), frame("subscribe", topic="t", since="gone"), now=0)
    assert isinstance(lost, Subscribed) and lost.resume == "not_recovered"


def test_with_a_shared_broker_an_unknown_cursor_waits_then_gives_up() -> None:
    c, s = core(resume_wait_seconds=1.5), sock()
    outcome = c.receive_text(s, frame("subscribe", topic="t", since="m9"), now=0)
    assert outcome == AwaitCursor("t", 1.5)
    assert c.hub.topics_of(s) == {"t"}  # counted as followed while it waits
    answer = c.give_up(s, "t")
    assert answer is not None and json.loads(answer.text)["recovered"] is False
    assert c.give_up(s, "t") is None  # answered once


def test_a_topic_outside_the_token_patterns_closes_4003() -> None:
    c, s = core(), sock(topics=("news.*",))
    outcome = c.receive_text(s, frame("subscribe", topic="payroll"), now=0)
    assert outcome == Close(CloseCode.TOPIC_NOT_ALLOWED, "topic_not_allowed")
    assert c.hub.topics_of(s) == set()


def test_subscriptions_per_socket_are_bounded() -> None:
    c, s = core(max_subscriptions=2), sock()
    for topic in ("a", "b", "a"):  # "a" again takes no new place
        assert isinstance(
            c.receive_text(s, frame("subscribe", topic=topic), now=0), Subscribed
        )
    refused = c.receive_text(s, frame("subscribe", topic="c"), now=0)
    assert error_code(refused) is ErrorCode.TOO_MANY_SUBSCRIPTIONS
    assert c.hub.topics_of(s) == {"a", "b"}
    c.receive_text(s, frame("unsubscribe", topic="a"), now=0)
    assert isinstance(c.receive_text(s, frame("subscribe", topic="c"), now=0), Subscribed)


def test_topic_names_are_bounded_in_utf8_bytes() -> None:
    c, s = core(max_topic_bytes=4), sock(scopes=frozenset({"publish"}))
    assert isinstance(c.receive_text(s, frame("subscribe", topic="éé"), now=0), Subscribed)
    for frame_type in ("subscribe", "publish"):
        outcome = c.receive_text(s, frame(frame_type, topic="ééé", data=1), now=0)
        assert error_code(outcome) is ErrorCode.TOPIC_TOO_LONG
    lone = c.receive_text(s, '{"type": "subscribe", "topic": "\\ud800"}', now=0)
    assert error_code(lone) is ErrorCode.BAD_MESSAGE


def test_unsubscribe_answers_or_says_not_subscribed() -> None:
    c, s = core(), sock()
    c.receive_text(s, frame("subscribe", topic="t"), now=0)
    outcome = c.receive_text(s, frame("unsubscribe", topic="t"), now=0)
    assert outcome == Reply('{"type":"unsubscribed","topic":"t"}', ServerType.UNSUBSCRIBED)
    assert c.hub.subscribers("t") == set() and c.hub.topics_of(s) == set()
    again = c.receive_text(s, frame("unsubscribe", topic="t"), now=0)
    assert error_code(again) is ErrorCode.NOT_SUBSCRIBED


# -- publishing ------------------------------------------------------------------------


def test_publish_needs_the_scope_then_goes_to_the_broker() -> None:
    c = core()
    no_scope = c.receive_text(sock(), frame("publish", topic="t", data=1), now=0)
    assert error_code(no_scope) is ErrorCode.FORBIDDEN
    publisher = sock(scopes=frozenset({"publish"}))
    outcome = c.receive_text(publisher, frame("publish", topic="t", data={"k": 1}), now=0)
    assert outcome == Publish("t", {"k": 1})
    assert json.loads(c.published("t", "id-1").text) == {"type": "published", "topic": "t",
                                                         "id": "id-1"}  # fmt: skip
    assert error_code(c.publish_failed("down")) is ErrorCode.BROKER_UNAVAILABLE


def test_publish_outside_the_token_patterns_closes_4003() -> None:
    s = sock(scopes=frozenset({"publish"}), topics=("news.*",))
    outcome = core().receive_text(s, frame("publish", topic="payroll", data=1), now=0)
    assert outcome == Close(CloseCode.TOPIC_NOT_ALLOWED, "topic_not_allowed")


def test_publish_data_nested_too_deep_is_refused() -> None:
    s = sock(scopes=frozenset({"publish"}))
    deep = '{"type": "publish", "topic": "t", "data": ' + "[" * 65 + "]" * 65 + "}"
    outcome = core().receive_text(s, deep, now=0)
    assert error_code(outcome) is ErrorCode.BAD_JSON and outcome.reason == "json_too_deep"  # type: ignore[union-attr]


# -- tokens ------------------------------------------------------------------------------


def test_refresh_asks_for_verification_then_drops_what_the_new_token_forbids() -> None:
    c, s = core(), sock(expires_at=100.0)
    for topic in ("news.a", "sport.b"):
        c.receive_text(s, frame("subscribe", topic=topic), now=0)
    assert c.receive_text(s, frame("refresh", token="jwt"), now=0) == Verify("jwt")
    outcome = c.refresh(s, identity(expires_at=200.0, topics=("news.*",)))
    assert isinstance(outcome, Refreshed)
    assert [json.loads(reply.text) for reply in outcome.replies] == [
        {"type": "unsubscribed", "topic": "sport.b"},
        {"type": "refreshed", "expires_at": 200_000},
    ]
    assert c.hub.topics_of(s) == {"news.a"} and c.hub.subscribers("sport.b") == set()


def test_refresh_for_another_subject_is_refused() -> None:
    c, s = core(), sock(expires_at=100.0)
    outcome = c.refresh(s, identity(sub="mallory", expires_at=200.0))
    assert error_code(outcome) is ErrorCode.REFRESH_REFUSED
    assert error_code(c.refresh_refused("bad signature")) is ErrorCode.REFRESH_REFUSED


def test_deadlines_warn_ahead_of_expiry_then_close_4001() -> None:
    c, s = core(), sock(expires_at=1_000.0)
    assert c.next_deadline(s.session, now=0.0) == 940.0
    warning = c.on_deadline(s.session, now=940.0)
    assert warning == Reply('{"type":"token_expiring","expires_at":1000000}',
                            ServerType.TOKEN_EXPIRING)  # fmt: skip
    assert c.next_deadline(s.session, now=940.0) == 1_000.0
    assert c.on_deadline(s.session, now=1_000.0) is TOKEN_EXPIRED
