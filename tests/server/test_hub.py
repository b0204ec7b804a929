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
    assert replay is not None
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


def test_subscriptions_are_kept_by_topic_and_by_subscriber_alike() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    hub.subscribe("a", "t1", None, now_ms=0)
    hub.subscribe("a", "t2", "m7", now_ms=0, may_wait=True)  # pending, still followed
    assert hub.topics_of("a") == {"t1", "t2"}
    assert hub.unsubscribe("a", "t1") and hub.topics_of("a") == {"t2"}
    hub.remove("a")
    assert hub.topics_of("a") == set() and hub.give_up("a", "t2") is None


def publish(hub: Hub[str], topic: str, at_ms: int) -> None:
    hub.route(Notification(topic=topic, id=f"{topic}@{at_ms}", data=0, published_at=at_ms),
              now_ms=at_ms)  # fmt: skip


def test_expired_histories_are_evicted_least_recently_published_first() -> None:
    evicted: list[tuple[str, int]] = []
    hub: Hub[str] = Hub(10, history_seconds=1, on_evict=lambda *e: evicted.append(e))
    publish(hub, "old", at_ms=0)
    publish(hub, "busy", at_ms=0)
    publish(hub, "busy", at_ms=900)  # published again: moves behind "old"
    assert hub.evict_expired(now_ms=1_500) == 1 and hub.history_count == 1
    assert not hub.subscribe("c", "old", "old@0", now_ms=1_500).recovered  # type: ignore[union-attr]
    assert hub.evict_expired(now_ms=2_000) == 1 and hub.history_count == 0
    assert evicted == [("expired", 1), ("expired", 1)]


def test_past_max_topics_the_stalest_history_makes_room() -> None:
    evicted: list[tuple[str, int]] = []
    hub: Hub[str] = Hub(10, 60, max_topics=2, on_evict=lambda *e: evicted.append(e))
    publish(hub, "a", at_ms=0)
    publish(hub, "b", at_ms=1)
    publish(hub, "a", at_ms=2)
    publish(hub, "c", at_ms=3)  # "b" is the stalest
    assert hub.history_count == 2 and evicted == [("limit", 1)]
    assert not hub.subscribe("s", "b", "b@1", now_ms=3).recovered  # type: ignore[union-attr]
    assert hub.subscribe("s", "a", "a@0", now_ms=3).recovered  # type: ignore[union-attr]
