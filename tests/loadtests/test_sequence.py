"""Sequence tracking: first number is the baseline; jumps are gaps, repeats duplicates,
and a number a gap skipped that arrives after all is out of order."""

from __future__ import annotations

from wsharness.loadclient.sequence import MAX_HOLES, SequenceTracker, Verdict, stamp


def test_numbers_in_order_after_a_mid_stream_join_are_in_order() -> None:
    tracker = SequenceTracker()
    assert tracker.observe("t", stamp("p", 41)) == (Verdict.FIRST, 0)
    assert tracker.observe("t", stamp("p", 42)) == (Verdict.IN_ORDER, 0)


def test_a_jump_is_a_gap_counting_the_missing_and_a_repeat_a_duplicate() -> None:
    tracker = SequenceTracker()
    tracker.observe("t", stamp("p", 1))
    assert tracker.observe("t", stamp("p", 5)) == (Verdict.GAP, 3)
    assert tracker.observe("t", stamp("p", 5)) == (Verdict.DUPLICATE, 0)
    assert tracker.observe("t", stamp("p", 1)) == (Verdict.DUPLICATE, 0)


def test_a_skipped_number_arriving_late_is_out_of_order_once_then_a_duplicate() -> None:
    tracker = SequenceTracker()
    tracker.observe("t", stamp("p", 1))
    tracker.observe("t", stamp("p", 6))  # 2, 3, 4, 5 missing
    assert tracker.observe("t", stamp("p", 3)) == (Verdict.OUT_OF_ORDER, -1)
    assert tracker.observe("t", stamp("p", 3)) == (Verdict.DUPLICATE, 0)
    for late in (2, 5, 4):  # the ends and the middle of what is left
        assert tracker.observe("t", stamp("p", late)) == (Verdict.OUT_OF_ORDER, -1)
    assert tracker.observe("t", stamp("p", 4)) == (Verdict.DUPLICATE, 0)
    assert tracker.observe("t", stamp("p", 7)) == (Verdict.IN_ORDER, 0)


def test_only_the_last_gaps_are_remembered() -> None:
    tracker = SequenceTracker()
    tracker.observe("t", stamp("p", 0))
    for gap in range(MAX_HOLES + 1):  # each skips one number: 1, 3, 5, ...
        tracker.observe("t", stamp("p", 2 * gap + 2))
    assert tracker.observe("t", stamp("p", 1))[0] is Verdict.DUPLICATE  # forgotten
    assert tracker.observe("t", stamp("p", 3))[0] is Verdict.OUT_OF_ORDER


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
