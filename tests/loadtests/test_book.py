"""loadclient/book.py: gaps confirmed a grace period on; runs assessed across processes."""

from __future__ import annotations

from wsharness.loadclient.book import Book, assess_reports

STREAM = ("news", "publisher-1")


def test_a_skip_is_a_gap_only_if_still_open_one_grace_period_later() -> None:
    book = Book()
    book.reset(grace_ms=1000.0)
    gaps: list[tuple[str, int, bool]] = []
    account = book.open_account("s/1", 0.0, ["news"], "IdleUser")
    for number, at in ((1, 10.0), (4, 20.0), (2, 500.0), (7, 600.0)):
        account.observe(STREAM, number, at)
        book.watch(
            account,
            lambda a, _s, missing, first: gaps.append((a.socket_id, missing, first)),
        )
    assert book.settle(900.0) == 0  # nothing is a grace period old yet
    assert book.settle(1100.0) == 1 and gaps == [("s/1", 1, True)]  # 3 never came; 2 did
    account.observe(STREAM, 5, 1200.0)
    account.observe(STREAM, 6, 1300.0)
    assert book.settle(5000.0) == 0  # 5 and 6 came late: out of order, not a gap
    for number, at in ((10, 6000.0), (13, 6000.0)):
        account.observe(STREAM, number, at)
    book.watch(
        account, lambda a, _s, missing, first: gaps.append((a.socket_id, missing, first))
    )
    assert book.settle(8000.0) == 2  # two skips confirmed at once: the first is not first
    assert gaps[1:] == [("s/1", 2, False), ("s/1", 2, False)]


def test_the_master_assesses_each_worker_until_its_report_was_taken() -> None:
    """A publisher in one process, receivers in two: every publish counts for all."""
    publishing, receiving = Book(), Book()
    for book in (publishing, receiving):
        book.reset(grace_ms=0.0)
    for number in range(1, 11):
        publishing.published(STREAM, number, 1000.0 * number)
    early = publishing.open_account("a/1", 0.0, ["news"], "IdleUser")
    late = receiving.open_account("b/1", 0.0, ["news"], "ActiveUser")
    for number in range(1, 11):
        early.observe(STREAM, number, 1000.0 * number + 5)
    for number in range(1, 7):  # its report was taken at 6.5 s: 7..10 not yet received
        late.observe(STREAM, number, 1000.0 * number + 5)
    reports = {
        "worker-a": publishing.final_report(taken_at_ms=20_000.0),
        "worker-b": receiving.final_report(taken_at_ms=6_500.0),
    }

    final, by_process, sockets = assess_reports(reports, until_ms=30_000.0, grace_ms=0.0)

    assert (final.expected, final.received, final.complete_sockets) == (16, 16, 2)
    assert by_process["worker-b"].expected == 6  # not 10: 7..10 came after its report
    assert {(v.process, v.user_class, v.result.ratio) for v in sockets} == {
        ("worker-a", "IdleUser", 1.0),
        ("worker-b", "ActiveUser", 1.0),
    }


def test_publishes_of_other_processes_are_learned_once_each() -> None:
    mine, theirs = Book(), Book()
    for number in (1, 2, 3):
        theirs.published(STREAM, number, float(number))
    mine.learn(theirs.take_unsent())
    assert theirs.take_unsent() == []  # handed over once
    account = mine.open_account("s/1", 0.0, ["news"], "IdleUser")
    for number in (1, 2, 3):
        account.observe(STREAM, number, 10.0)
    mine.reset(grace_ms=0.0)
    assert not mine.in_use  # a new test starts from nothing
