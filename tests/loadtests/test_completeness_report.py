"""Completeness across Locust processes: ``--processes 2`` and a master with a worker.

The publisher runs in one process and receivers in others, so each process learns
the other processes' publishes (through the master) and the master assesses every
socket at the end from the accounts the workers send it.  Against the fan-out relay
of ``tests/peers`` on the Pub/Sub emulator (see ``test_relay.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.loadtests.runs import LocustRun
from tests.loadtests.test_relay import OUT_OF_ORDER, RECEIVERS, relay_run
from tests.pubsub.pubsub_emulator import Emulator
from tests.support.node_peers import NodePeer
from wsharness.localserver import free_port, locust_master_flags


def assert_complete_across_processes(run: LocustRun) -> None:
    # Pub/Sub keeps no order here: a reordered message is a failure, a lost one is not
    assert set(run.errors()) <= {OUT_OF_ORDER}, run.output
    assert run.returncode == (1 if run.errors() else 0), run.output
    total = run.last_deliveries()
    assert (total["Sockets Assessed"], total["Sockets Complete"]) == ("4", "4"), total
    assert total["Completeness"] == "1.0"
    assert int(total["Expected"]) > RECEIVERS * 10
    assert "(100.00%) on 4 sockets; 4 complete" in run.output
    sockets = run.completeness
    assert len(sockets) == RECEIVERS
    assert len({row["Process"] for row in sockets}) == 2  # the publisher is in one of them
    assert all(row["Completeness"] == "1.0" for row in sockets)
    totals = [i for i, row in enumerate(run.deliveries) if row["Process"] == "total"]
    last_set = run.deliveries[totals[-2] + 1 : totals[-1]]  # the rows written at the end
    assessed = [int(row["Sockets Assessed"] or 0) for row in last_set]
    assert sum(assessed) == RECEIVERS and len(last_set) == 2, last_set  # two workers


@pytest.mark.parametrize("mode", ["processes", "master-worker"])
def test_every_socket_is_assessed_against_every_process_publishes(
    mode: str,
    emulator: Emulator,
    fanout_relay: NodePeer,
    topic: str,
    tmp_path: Path,
) -> None:
    pubsub = ("--publish-via", "pubsub", "--pubsub-topic", topic)
    if mode == "processes":
        ports = locust_master_flags(free_port())
        flags = ("--processes", "2", *ports, *pubsub)
        run = relay_run(fanout_relay, emulator, tmp_path, *flags)
    else:
        run = relay_run(fanout_relay, emulator, tmp_path, *pubsub, workers=2)
    assert_complete_across_processes(run)
