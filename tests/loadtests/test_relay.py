"""``--protocol relay`` in real Locust runs against a Node ``ws`` relay on Pub/Sub.

``tests/peers/pubsub_relay.js`` on the real Pub/Sub emulator, the suite run as a user
runs it (a ``locust`` subprocess): publishers stamp their payloads and publish them
to Pub/Sub (or through the relay's HTTP endpoint), idle users receive whatever the
relay sends them.  The fan-out variant delivers everything to every socket; the
shared-subscription variant splits the messages between the sockets.
"""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import LocustRun, locustfiles, run_locust
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.node_peers import NodePeer
from wsharness.loadclient.completeness_report import CSV_COLUMNS as SOCKET_COLUMNS
from wsharness.loadclient.delivery_report import CSV_COLUMNS

RECEIVERS = 4
GAP = ("deliver", "Gap('gap: missing sequence number')")
OUT_OF_ORDER = ("deliver", "OutOfOrder('out-of-order sequence number')")


def relay_run(
    relay: NodePeer, emulator: Emulator, workdir: Path, *extra: str, **options: int
) -> LocustRun:
    """Four idle receivers and one publisher at 10/s, no token: ``--protocol relay``."""
    return run_locust(
        locustfiles("idle", "publisher"),
        relay.ws_base,
        workdir,
        users=RECEIVERS + 1,
        seconds=options.get("seconds", 7),
        extra=("--protocol", "relay", "--publish-rate", "10", *extra),
        secret=None,
        env_extra=emulator.env,
        workers=options.get("workers", 0),
    )


def completeness(run: LocustRun) -> float:
    return float(run.last_deliveries()["Completeness"])


def test_the_fanout_relay_is_timed_complete_and_without_gaps(
    emulator: Emulator, fanout_relay: NodePeer, topic: str, tmp_path: Path
) -> None:
    run = relay_run(
        fanout_relay, emulator, tmp_path, "--publish-via", "pubsub", "--pubsub-topic", topic
    )

    # Pub/Sub keeps no order here: a reordered message is a failure, a lost one is not
    assert set(run.errors()) <= {OUT_OF_ORDER}, run.output
    assert run.returncode == (1 if run.errors() else 0), run.output
    publishes = run.count("publish")
    assert publishes > 30 and run.failure_count("publish") == 0
    # all but the last publishes (still in flight at the stop) reached every receiver
    assert run.count("deliver") >= RECEIVERS * (publishes - 20)
    assert 0 < float(run.stats["deliver"]["Median Response Time"]) < 5000
    total = run.last_deliveries()
    assert tuple(run.deliveries[0]) == CSV_COLUMNS
    assert (total["Sockets Assessed"], total["Sockets Complete"]) == ("4", "4")
    assert completeness(run) == 1.0 and float(total["Lowest Socket Completeness"]) == 1.0
    assert int(total["Expected"]) == int(total["Received Expected"]) > 4 * 20
    assert total["Missing"] == "0" and total["Sockets With Gaps"] == "0"
    received, expected = total["Received Expected"], total["Expected"]
    assert f"Completeness: {received} of {expected} expected messages" in run.output
    assert "(100.00%) on 4 sockets; 4 complete" in run.output
    sockets = run.completeness
    assert tuple(sockets[0]) == SOCKET_COLUMNS and len(sockets) == RECEIVERS
    assert {row["User Class"] for row in sockets} == {"IdleUser"}
    assert all(row["Completeness"] == "1.0" and row["Missing"] == "0" for row in sockets)


def test_the_shared_subscription_shows_gaps_and_a_share_of_one_in_four(
    emulator: Emulator, shared_relay: NodePeer, tmp_path: Path
) -> None:
    url = f"{shared_relay.http_url}/publish"  # the relay's own backend endpoint
    run = relay_run(
        shared_relay, emulator, tmp_path, "--publish-via", "http", "--publish-url", url
    )

    assert run.returncode == 1, run.output  # the failures are the relay's gaps
    assert run.errors().get(GAP, 0) > 0
    assert run.count("publish") > 30 and run.failure_count("publish") == 0
    total = run.last_deliveries()
    assert abs(completeness(run) - 1 / RECEIVERS) < 0.1, total
    assert total["Sockets Complete"] == "0" and int(total["Sockets With Gaps"]) > 0
    assert int(total["Missing"]) > 0
    sockets = run.completeness
    assert len(sockets) == RECEIVERS
    assert all(float(row["Completeness"]) < 1 for row in sockets)
    received = sum(int(row["Received"]) for row in sockets)
    expected = sum(int(row["Expected"]) for row in sockets)
    assert (received, expected) == (
        int(total["Received Expected"]),
        int(total["Expected"]),
    )
