"""Per-topic history: bounded by count and age, and resume that never hides a gap."""

from __future__ import annotations

from wsharness.server.history import Entry, TopicHistory


def entry(number: int, at_ms: int = 1_000) -> Entry:
    return Entry(id=f"m{number}", frame=f"frame{number}".encode(), published_at=at_ms)


def test_replay_returns_everything_after_the_cursor_in_order() -> None:
    history = TopicHistory(max_count=10, max_age_ms=60_000)
    for number in range(5):
        history.append(entry(number), now_ms=1_000)
    replay = history.replay_since("m1", now_ms=1_000)
    assert replay.recovered and [e.id for e in replay.entries] == ["m2", "m3", "m4"]
    latest = history.replay_since("m4", now_ms=1_000)
    assert latest.recovered and latest.entries == ()


def test_count_bound_forgets_the_oldest_and_their_cursors() -> None:
    history = TopicHistory(max_count=3, max_age_ms=60_000)
    for number in range(10):
        history.append(entry(number), now_ms=1_000)
    assert len(history) == 3
    assert not history.replay_since("m5", now_ms=1_000).recovered
    assert [e.id for e in history.replay_since("m7", now_ms=1_000).entries] == ["m8", "m9"]


def test_age_bound_forgets_old_entries() -> None:
    history = TopicHistory(max_count=100, max_age_ms=5_000)
    history.append(entry(0, at_ms=1_000), now_ms=1_000)
    history.append(entry(1, at_ms=4_000), now_ms=4_000)
    history.append(entry(2, at_ms=7_000), now_ms=7_000)
    assert not history.replay_since("m0", now_ms=7_000).recovered
    assert [e.id for e in history.replay_since("m1", now_ms=7_000).entries] == ["m2"]
    assert not history.replay_since("m1", now_ms=9_500).recovered


def test_unknown_cursor_is_not_recovered() -> None:
    history = TopicHistory(max_count=10, max_age_ms=60_000)
    history.append(entry(0), now_ms=1_000)
    replay = history.replay_since("from-another-boot", now_ms=1_000)
    assert not replay.recovered and replay.entries == ()


def test_a_history_has_expired_once_its_newest_entry_left_the_window() -> None:
    history = TopicHistory(max_count=10, max_age_ms=5_000)
    assert history.expired(now_ms=0)  # nothing remembered
    history.append(entry(0, at_ms=1_000), now_ms=1_000)
    assert not history.expired(now_ms=6_000)
    assert history.expired(now_ms=6_001)
