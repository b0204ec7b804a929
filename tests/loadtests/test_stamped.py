"""loadclient/stamped.py: stamps read once per frame, counted like the server's messages."""

from __future__ import annotations

from wsharness.loadclient.completeness import Arrival, SocketAccount
from wsharness.loadclient.deliveries import (
    DeliveryCounts,
    DeliverySampler,
    ProcessDeliveries,
)
from wsharness.loadclient.stamp import Stamp, encode_payload, stamped_payload
from wsharness.loadclient.stamped import frame_stamps, judge

STREAM = ("news", "p1")


def frame(sequence: int) -> bytes:
    payload = stamped_payload(Stamp("p1", sequence, 1000.0, "news"), pad="xx")
    return encode_payload({"type": "notification", "data": payload}).encode()


def test_stamps_are_found_in_a_relayed_frame_and_remembered_per_frame() -> None:
    first = frame_stamps(frame(7))
    assert first == [Stamp("p1", 7, 1000.0, "news")]
    assert frame_stamps(frame(7)) is first  # the next socket's copy: a lookup
    assert frame_stamps(b'{"type":"hello"}') == []


def test_arrivals_are_counted_like_the_servers_messages() -> None:
    account = SocketAccount("s/1", 0.0, ["news"])
    mine = DeliveryCounts()
    process = ProcessDeliveries(DeliveryCounts(), DeliverySampler())
    arrivals = [
        judge(account, Stamp("p1", n, 0.0, "news"), 1.0, mine, process)
        for n in (5, 6, 9, 7, 7, 4)
    ]
    assert arrivals == [
        Arrival.FIRST, Arrival.IN_ORDER, Arrival.GAP, Arrival.LATE, Arrival.DUPLICATE,
        Arrival.LATE,  # below the baseline: never counted missing
    ]  # fmt: skip
    for counts in (mine, process.counts):
        assert counts.as_dict() == {
            "delivered": 5,
            "missing": 1,  # 8 still missing
            "duplicate": 1,
            "out_of_order": 2,
        }
