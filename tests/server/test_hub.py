"""The hub: one frame per notification, whoever and however many receive it."""

from __future__ import annotations

import json

from wsharness.contract.notification import Notification
from wsharness.server.hub import Hub


def test_route_builds_one_frame_for_every_subscriber_and_remembers_it() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    for name in ("a", "b", "c"):
        hub.subscribe(name, "t", None, now_ms=0)
    notification = Notification(topic="t", id="id-1", data={"k": "v"}, published_at=5)
    traceparent = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    routed = hub.route(notification, now_ms=5, traceparent=traceparent)
    frame, targets = routed.frame, routed.targets
    assert sorted(targets) == ["a", "b", "c"]
    assert frame[0] == 0x81  # FIN + text opcode, unmasked
    header = 2 if frame[1] < 126 else 4  # 7-bit or 16-bit payload length
    body = json.loads(frame[header:])
    assert body == {"type": "message", "topic": "t", "id": "id-1", "data": {"k": "v"},
                    "published_at": 5, "traceparent": body["traceparent"]}  # fmt: skip
    replay = hub.subscribe("late", "t", "missing", now_ms=6)
    assert not replay.recovered


def test_removed_subscribers_get_nothing() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    hub.subscribe("a", "t", None, now_ms=0)
    hub.remove("a")
    assert hub.route(Notification("t", "x", 1, 0), now_ms=0).targets == []
    assert hub.subscribers("t") == set()


def note(number: int) -> Notification:
    return Notification(topic="t", id=f"m{number}", data=number, published_at=0)


def test_resume_waits_for_a_cursor_still_on_its_way() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    assert hub.subscribe("mover", "t", "m2", now_ms=0, may_wait=True) is None
    assert hub.route(note(1), now_ms=0).targets == []  # before the cursor: seen already
    settled = hub.route(note(2), now_ms=0)
    assert settled.targets == [] and len(settled.resolved) == 1
    assert settled.resolved[0].replay.recovered and settled.resolved[0].replay.entries == ()
    assert hub.route(note(3), now_ms=0).targets == ["mover"]
    assert hub.give_up("mover", "t") is None


def test_giving_up_says_not_recovered_and_hands_over_what_was_held() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    assert hub.subscribe("stale", "t", "ancient", now_ms=0, may_wait=True) is None
    hub.route(note(1), now_ms=0)
    replay = hub.give_up("stale", "t")
    assert replay is not None and not replay.recovered
    assert [entry.id for entry in replay.entries] == ["m1"]  # a duplicate, never a gap
    assert hub.route(note(2), now_ms=0).targets == ["stale"]


def test_without_waiting_an_unknown_cursor_is_answered_at_once() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    replay = hub.subscribe("c", "t", "m9", now_ms=0)
    assert replay is not None and not replay.recovered


def test_unsubscribing_a_pending_resume_cancels_it() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    hub.subscribe("c", "t", "m2", now_ms=0, may_wait=True)
    assert hub.unsubscribe("c", "t")
    assert hub.route(note(2), now_ms=0).resolved == []
