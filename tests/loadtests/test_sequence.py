"""Sequence tracking: first number is the baseline; jumps are gaps, repeats duplicates."""

from __future__ import annotations

from wsharness.loadclient.sequence import SequenceTracker, Verdict, stamp


def test_numbers_in_order_after_a_mid_stream_join_are_in_order() -> None:
    tracker = SequenceTracker()
    assert tracker.observe("t", stamp("p", 41)) == (Verdict.FIRST, 0)
    assert tracker.observe("t", stamp("p", 42)) == (Verdict.IN_ORDER, 0)


def test_a_jump_is_a_gap_counting_the_missing_and_a_repeat_a_duplicate() -> None:
    tracker = SequenceTracker()
    tracker.observe("t", stamp("p", 1))
    assert tracker.observe("t", stamp("p", 5)) == (Verdict.GAP, 3)
    assert tracker.observe("t", stamp("p", 5)) == (Verdict.DUPLICATE, 0)
    assert tracker.observe("t", stamp("p", 3)) == (Verdict.DUPLICATE, 0)


def test_publishers_and_topics_are_tracked_apart() -> None:
    tracker = SequenceTracker()
    tracker.observe("t", stamp("p", 1))
    assert tracker.observe("t", stamp("q", 9)) == (Verdict.FIRST, 0)
    assert tracker.observe("u", stamp("p", 7)) == (Verdict.FIRST, 0)
    assert tracker.observe("t", stamp("p", 2)) == (Verdict.IN_ORDER, 0)


def test_unstamped_data_is_not_judged_and_forgetting_a_topic_resets_it() -> None:
    tracker = SequenceTracker()
    assert tracker.observe("t", {"hello": 1})[0] is Verdict.UNSTAMPED
    assert tracker.observe("t", "text")[0] is Verdict.UNSTAMPED
    tracker.observe("t", stamp("p", 1))
    tracker.forget_topic("t")
    assert tracker.observe("t", stamp("p", 9)) == (Verdict.FIRST, 0)


def test_stamp_carries_the_padding() -> None:
    assert stamp("p", 3, "xx") == {"pub": "p", "seq": 3, "pad": "xx"}
