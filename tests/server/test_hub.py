"""The hub: one frame per notification, whoever and however many receive it."""

from __future__ import annotations

import json

from server.brokers.base import Notification
from server.hub import Hub


def test_route_builds_one_frame_for_every_subscriber_and_remembers_it() -> None:
    hub: Hub[str] = Hub(history_size=10, history_seconds=60)
    for name in ("a", "b", "c"):
        hub.subscribe(name, "t", None, now_ms=0)
    note = Notification(topic="t", id="id-1", data={"k": "v"}, published_at=5)
    frame, targets = hub.route(
        note, now_ms=5, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    )
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
    hub.remove("a", {"t"})
    _, targets = hub.route(Notification("t", "x", 1, 0), now_ms=0)
    assert targets == [] and hub.subscribers("t") == set()
