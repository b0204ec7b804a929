"""loadclient/completeness.py: expected against received, per socket and for the run."""

from __future__ import annotations

import json
import random

import pytest

from wsharness.loadclient.completeness import (
    Arrival,
    DeliveryCounts,
    PublishLedger,
    SequenceSet,
    SocketAccount,
    assess,
    summarise,
)

NEWS_A = ("news", "publisher-a")
NEWS_B = ("news", "publisher-b")
SPORT_A = ("sport", "publisher-a")
GRACE = 500.0


def ledger_of(
    stream: tuple[str, str], times: range, first_sequence: int = 1
) -> PublishLedger:
    """One publish per time in ``times`` (ms), numbered from ``first_sequence``."""
    ledger = PublishLedger()
    for offset, at in enumerate(times):
        ledger.record(stream, first_sequence + offset, float(at))
    return ledger


# --- the received numbers ------------------------------------------------------------


def test_numbers_received_in_order_stay_one_interval() -> None:
    seen = SequenceSet()
    assert all(seen.add(n) for n in range(1, 10_001))
    assert seen.intervals() == [[1, 10_000]]
    assert (len(seen), seen.holes) == (10_000, 0)


def test_a_late_number_fills_its_hole_and_merges_the_intervals() -> None:
    seen = SequenceSet()
    for n in (1, 2, 5, 6, 9):
        seen.add(n)
    assert seen.intervals() == [[1, 2], [5, 6], [9, 9]]
    assert seen.holes == 4
    for n in (3, 4):
        assert seen.add(n)
    assert seen.intervals() == [[1, 6], [9, 9]]
    assert not seen.add(5)
    assert seen.add(0) and seen.intervals() == [[0, 6], [9, 9]]
    assert (
        seen.count_between(4, 9),
        seen.count_between(7, 8),
        seen.count_between(9, 3),
    ) == (
        4,
        0,
        0,
    )


def test_the_set_agrees_with_a_python_set_under_random_arrivals() -> None:
    rng = random.Random(13)
    seen, reference = SequenceSet(), set[int]()
    for _ in range(3000):
        number = rng.randint(0, 400)
        assert seen.add(number) == (number not in reference)
        reference.add(number)
    assert len(seen) == len(reference)
    for _ in range(200):
        low, high = sorted(rng.randint(-5, 405) for _ in range(2))
        assert seen.count_between(low, high) == sum(low <= n <= high for n in reference)
    assert all((n in seen) == (n in reference) for n in range(-5, 405))
    assert SequenceSet.from_intervals(seen.intervals()).intervals() == seen.intervals()


def test_intervals_from_the_wire_are_merged_and_checked() -> None:
    merged = SequenceSet.from_intervals([[5, 9], [1, 3], [4, 4], [8, 12]])
    assert merged.intervals() == [[1, 12]] and len(merged) == 12
    with pytest.raises(ValueError, match="reversed"):
        SequenceSet.from_intervals([[3, 1]])


# --- judging each arrival -------------------------------------------------------------


def test_each_arrival_is_judged_against_its_stream() -> None:
    account = SocketAccount("s1", subscribed_at_ms=0.0)
    verdicts = [account.observe(NEWS_A, n, 0.0) for n in (4, 5, 8, 6, 8, 9)]
    assert verdicts == [
        (Arrival.FIRST, 0),
        (Arrival.IN_ORDER, 0),
        (Arrival.GAP, 2),
        (Arrival.LATE, 0),
        (Arrival.DUPLICATE, 0),
        (Arrival.IN_ORDER, 0),
    ]
    assert account.observe(NEWS_B, 100, 0.0) == (Arrival.FIRST, 0)  # streams are separate
    assert account.observe(SPORT_A, 1, 0.0) == (Arrival.FIRST, 0)
    assert account.counts() == DeliveryCounts(
        delivered=7, duplicates=1, out_of_order=1, gaps=0, missing=1
    )
    assert account.settle(now_ms=1000.0, grace_ms=GRACE) == [(NEWS_A, 1)]  # 7 never came
    assert account.counts().gaps == 1


def test_counts_add_up_over_sockets() -> None:
    one, two = SocketAccount("a", 0.0), SocketAccount("b", 0.0)
    for n in (1, 3):
        one.observe(NEWS_A, n, 0.0)
    for n in (1, 1):
        two.observe(NEWS_A, n, 0.0)
    one.settle(1000.0, GRACE)
    assert one.counts() + two.counts() == DeliveryCounts(3, 1, 0, 1, 1)


def test_a_skip_filled_within_the_grace_period_was_only_out_of_order() -> None:
    account = SocketAccount("s1", 0.0)
    arrivals = [(1, 100.0), (4, 110.0), (3, 120.0), (2, 130.0), (7, 700.0), (5, 900.0)]
    verdicts = [account.observe(NEWS_A, n, at)[0] for n, at in arrivals]
    assert verdicts == [
        Arrival.FIRST,
        Arrival.GAP,
        *[Arrival.LATE] * 2,
        Arrival.GAP,
        Arrival.LATE,
    ]
    assert account.settle(now_ms=600.0, grace_ms=GRACE) == []  # 2, 3 came: reordered
    assert account.settle(now_ms=1000.0, grace_ms=GRACE) == []  # 5..6 not old enough
    assert account.settle(now_ms=1200.0, grace_ms=GRACE) == [(NEWS_A, 1)]  # 6 never came
    assert account.settle(now_ms=9000.0, grace_ms=GRACE) == []  # confirmed once
    counts = account.counts()
    assert (counts.gaps, counts.out_of_order, counts.missing) == (1, 3, 1)


# --- expected against received --------------------------------------------------------


def test_a_socket_that_received_everything_is_complete() -> None:
    ledger = ledger_of(NEWS_A, range(1000, 11_000, 100))  # 100 publishes
    account = SocketAccount("s1", subscribed_at_ms=0.0)
    for n in range(1, 101):
        account.observe(NEWS_A, n, 0.0)
    result = assess(account, ledger, until_ms=20_000, grace_ms=GRACE)
    assert (result.expected, result.received, result.missing, result.extra) == (
        100,
        100,
        0,
        0,
    )
    assert result.ratio == 1.0


def test_a_socket_counts_from_its_subscription_plus_the_grace_period() -> None:
    ledger = ledger_of(NEWS_A, range(0, 10_000, 100))  # seq 1 at 0 ms ... 100 at 9900
    account = SocketAccount("late", subscribed_at_ms=5000.0)
    for n in range(53, 101):  # the server attached it a little after 5.2 s
        account.observe(NEWS_A, n, 0.0)
    result = assess(account, ledger, until_ms=20_000, grace_ms=GRACE)
    assert result.expected == 45  # published at 5500 ms or later: seq 56..100
    assert (result.received, result.missing, result.extra) == (45, 0, 3)
    assert assess(account, ledger, until_ms=20_000, grace_ms=0).missing == 2


def test_messages_still_in_flight_at_the_end_are_not_missing() -> None:
    ledger = ledger_of(NEWS_A, range(0, 10_000, 100))
    account = SocketAccount("s1", subscribed_at_ms=-1000.0)
    for n in range(1, 96):  # 96..100, published in the last 0.5 s, not arrived yet
        account.observe(NEWS_A, n, 0.0)
    stopped_at = 9950.0
    result = assess(account, ledger, until_ms=stopped_at, grace_ms=GRACE)
    assert (result.expected, result.missing) == (95, 0)
    assert assess(account, ledger, until_ms=stopped_at, grace_ms=0).missing == 5


def test_a_closed_socket_expects_nothing_after_its_close() -> None:
    ledger = ledger_of(NEWS_A, range(0, 10_000, 100))
    account = SocketAccount("dropped", subscribed_at_ms=-1000.0)
    for n in range(1, 31):
        account.observe(NEWS_A, n, 0.0)
    account.close(3000.0)
    account.close(9000.0)  # the first close counts
    result = assess(account, ledger, until_ms=20_000, grace_ms=GRACE)
    assert (result.expected, result.received) == (26, 26)  # published up to 2.5 s


def test_a_socket_expects_only_its_topics() -> None:
    ledger = ledger_of(NEWS_A, range(0, 1000, 100))
    for offset, at in enumerate(range(0, 1000, 100)):
        ledger.record(SPORT_A, offset + 1, float(at))
    account = SocketAccount("news-only", -1000.0, topics=["news"])
    for n in range(1, 11):
        account.observe(NEWS_A, n, 0.0)
    assert assess(account, ledger, 5000.0, GRACE).expected == 10
    everything = SocketAccount("all", -1000.0)
    assert assess(everything, ledger, 5000.0, GRACE).expected == 20


def test_gaps_and_a_share_show_in_the_ratio() -> None:
    """Four sockets splitting one stream (a shared subscription): each about 1/4."""
    ledger = ledger_of(NEWS_A, range(0, 40_000, 100))  # 400 publishes
    accounts = [SocketAccount(f"s{i}", -1000.0) for i in range(4)]
    for n in range(1, 401):
        accounts[n % 4].observe(NEWS_A, n, 0.0)
    results = [assess(a, ledger, 50_000.0, GRACE) for a in accounts]
    assert [r.ratio for r in results] == [0.25] * 4
    assert all(len(a.settle(50_000.0, GRACE)) == 99 for a in accounts)
    assert all(a.counts().gaps == 99 for a in accounts)
    run = summarise(results)
    assert (run.sockets, run.expected, run.received, run.missing) == (4, 1600, 400, 1200)
    assert run.ratio == 0.25 and run.lowest == 0.25 and run.complete_sockets == 0


def test_the_run_sums_messages_not_socket_ratios() -> None:
    ledger = ledger_of(NEWS_A, range(0, 10_000, 100))
    full = SocketAccount("full", -1000.0)
    for n in range(1, 101):
        full.observe(NEWS_A, n, 0.0)
    short = SocketAccount("joined-late", 8900.0)  # expects 95, 96 (9.4 s, 9.5 s)
    for n in (95, 97, 99):
        short.observe(NEWS_A, n, 0.0)
    idle = SocketAccount("nothing-expected", 9800.0)
    results = [assess(a, ledger, 10_000.0, GRACE) for a in (full, short, idle)]
    assert [r.ratio for r in results] == [1.0, 0.5, None]
    run = summarise(results)
    assert (run.expected, run.received, run.complete_sockets, run.lowest) == (
        98,
        97,
        1,
        0.5,
    )
    assert summarise([]).ratio is None


def test_accounts_and_ledgers_survive_the_wire() -> None:
    """A worker's accounts and ledger, sent as JSON, give the master the same verdict."""
    first, second = (
        ledger_of(NEWS_A, range(0, 5000, 100)),
        ledger_of(NEWS_B, range(50, 5000, 100)),
    )
    account = SocketAccount("s1", -1000.0, topics=["news"])
    for n in [*range(1, 20), *range(25, 51)]:
        account.observe(NEWS_A, n, 0.0)
    for n in (3, 2, 2):
        account.observe(NEWS_B, n, 0.0)
    account.close(4000.0)
    merged = PublishLedger()
    for ledger in (first, second):
        merged.merge_wire(json.loads(json.dumps(ledger.to_wire())))
    again = SocketAccount.from_wire(json.loads(json.dumps(account.to_wire())))
    assert again.counts() == account.counts()
    local = PublishLedger()
    for ledger in (first, second):
        local.merge_wire(ledger.to_wire())
    assert assess(again, merged, 9000.0, GRACE) == assess(account, local, 9000.0, GRACE)
    assert merged.published() == 100


def test_a_publish_recorded_out_of_time_order_is_placed_in_order() -> None:
    ledger = PublishLedger()
    for sequence, at in ((1, 100.0), (3, 300.0), (2, 200.0)):
        ledger.record(NEWS_A, sequence, at)
    assert ledger.window(NEWS_A, 150.0, 400.0) == (2, 3, 2)
    assert ledger.window(NEWS_A, 400.0, 500.0) == (0, -1, 0)
    assert ledger.window(NEWS_B, 0.0, 500.0) == (0, -1, 0)
