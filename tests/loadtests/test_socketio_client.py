"""``--protocol socketio`` in real Locust runs against a real Socket.IO v4 server.

``tests/peers/socketio_room.js`` (npm ``socket.io``) broadcasts the ``notification``
event a publisher emits to the room of namespace ``/live``.  The locustfile is a
user's own: three members of the room, one socket left out of it (``?room=none`` on
its URL), one that leaves the room for a while, and the suite's publisher.
"""

from __future__ import annotations

from pathlib import Path

from tests.loadtests.runs import LocustRun, run_locust
from tests.support.node_peers import NodePeer

GAP = ("deliver", "Gap('gap: missing sequence number')")
LOCUSTFILE = '''
from wsharness.loadclient.suite import IdleUser, PublisherUser, WebSocketUser
from locust import task


class Member(IdleUser):
    fixed_count = 3


class LeftOut(IdleUser):
    """Connects with ?room=none: the server keeps it out of the room."""

    fixed_count = 1

    def __init__(self, environment):
        super().__init__(environment)
        self.client.url += "&room=none"


class Wanderer(WebSocketUser):
    """Out of the room for 1.5 s (15 publishes at 10/s), then back in it.

    Not an IdleUser: Locust would pick between its idle task and this one.
    """

    fixed_count = 1

    @task
    def wander(self):
        self.hold(1.5)
        self.emit("leave-room")
        self.hold(1.5)
        self.emit("join-room")
        self.hold_forever()

    def emit(self, name):
        self.client.sio.emit(name, namespace="/live")
        for frame in self.client.sio.data_to_send():
            self.client.send(frame)


class Publisher(PublisherUser):
    fixed_count = 1
'''


def room_run(server: NodePeer, workdir: Path, *extra: str) -> LocustRun:
    locustfile = workdir / "room.py"
    locustfile.write_text(LOCUSTFILE)
    flags = (
        "--protocol", "socketio", "--socketio-namespace", "/live",
        "--publish-rate", "10", "--completeness-grace", "0.5", *extra,
    )  # fmt: skip
    host = server.http_url
    return run_locust(str(locustfile), host, workdir, 6, 7, extra=flags, secret=None)


def by_class(run: LocustRun) -> dict[str, list[dict[str, str]]]:
    sockets: dict[str, list[dict[str, str]]] = {}
    for row in run.completeness:
        sockets.setdefault(row["User Class"], []).append(row)
    return sockets


def test_the_room_is_complete_and_the_sockets_outside_it_show_what_they_missed(
    socketio_room: NodePeer, tmp_path: Path
) -> None:
    run = room_run(socketio_room, tmp_path)

    assert run.returncode == 1, run.output  # the wanderer's gap is a failure
    assert run.count("connect") == 5 + 1 and run.failure_count("connect") == 0
    assert run.count("publish") > 30 and run.failure_count("publish") == 0
    assert 0 < float(run.stats["deliver"]["Median Response Time"]) < 1000
    assert run.errors() == {GAP: 1}  # one stretch out of the room: one gap
    sockets = by_class(run)
    assert [row["Completeness"] for row in sockets["Member"]] == ["1.0"] * 3
    (left_out,) = sockets["LeftOut"]
    assert int(left_out["Expected"]) > 30 and left_out["Received"] == "0"
    assert (left_out["Missing"], left_out["Completeness"]) == (left_out["Expected"], "0.0")
    (wanderer,) = sockets["Wanderer"]
    assert 0.3 < float(wanderer["Completeness"]) < 0.95, wanderer
    assert wanderer["Gaps"] == "1" and int(wanderer["Missing"]) >= 10
    total = run.last_deliveries()
    assert (total["Sockets Assessed"], total["Sockets Complete"]) == ("5", "3")
    assert total["Lowest Socket Completeness"] == "0.0"
