"""``--protocol socketio``: a Socket.IO v4 server over the WebSocket transport.

The shell around the sans-I/O :class:`~wsharness.loadclient.socketio_codec.SocketIOClient`:
each text frame goes through the state machine in the gevent loop; what it queues to
send (the CONNECT of ``--socketio-namespace`` after Engine.IO's open packet, the pong
of every ping) is sent by a greenlet, since a loop callback must not block.
``connect`` is reported once the namespace accepted the socket (a CONNECT_ERROR is a
``connect`` failure with the server's message); the account starts then.  An event
named ``--socketio-event`` on the namespace carries stamps in its arguments (or at
``--stamp-path`` in them).  A server's DISCONNECT or Engine.IO close ends the
socket, reported as ``disconnect`` (the user reconnects).  Publishers with
``--publish-via server`` emit the event with the stamped payload.

In a fan-out every socket receives the same event frame: its decoded event and stamps
are remembered by the frame's bytes, so all but the first socket skip the decoding.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent

from wsharness.loadclient import report
from wsharness.loadclient.client import _SEND_ERRORS
from wsharness.loadclient.relay import StampClient
from wsharness.loadclient.socketio_codec import (
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    Event,
    SocketIOClient,
    SocketIOProtocolError,
)
from wsharness.loadclient.stamp import STAMP_KEY, Stamp, find_stamps_in_value, follow_path

logger = logging.getLogger(__name__)

CONNECTED = "socket.io connected"
_EVENT_PREFIX = b"42"  # Engine.IO message + Socket.IO EVENT
_CACHE_SIZE = 256
_events: dict[bytes, tuple[Event, list[Stamp]]] = {}


class SocketIORefused(report.WsFailure):
    """The namespace refused the socket (CONNECT_ERROR)."""

    def __init__(self, namespace: str, message: str) -> None:
        super().__init__(f"socket.io connect refused: {namespace} {message}")


class SocketIOEnded(report.WsFailure):
    """The server ended the Socket.IO session, or broke its protocol."""

    def __init__(self, why: str) -> None:
        super().__init__(f"closed: socket.io {why}")


class SocketIOUserClient(StampClient):
    """One virtual user's Socket.IO session, across reconnects."""

    __slots__ = ("event_name", "namespace", "sio")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.namespace = self.options.chosen.socketio_namespace
        self.event_name = self.options.chosen.socketio_event
        self.sio = SocketIOClient(namespaces=(self.namespace,))

    def connect(self) -> bool:
        """Upgrade, Engine.IO open, namespace CONNECT; reports ``connect`` once."""
        self.sio = SocketIOClient(namespaces=(self.namespace,))
        connected = self._waiter(CONNECTED)
        started = time.perf_counter()
        if not self._open(started, self._on_sio_text):
            self._waiters.pop(CONNECTED, None)
            return False
        if self._await(connected, "socket.io connect", report.CONNECT) is None:
            return False
        self.reporter.success(report.CONNECT, report.elapsed_ms(started))
        return True

    def publish(self, topic: str, data: dict[str, Any]) -> bool | None:
        """Emit the notification event with ``data``; reports ``publish`` (the send)."""
        started = time.perf_counter()
        try:
            self.sio.emit(self.event_name, data, namespace=self.namespace)
            for frame in self.sio.data_to_send():
                self.send(frame)
        except SocketIOProtocolError as error:  # not connected (any more)
            self.reporter.failure(report.PUBLISH, None, SocketIOEnded(str(error)))
            return False
        except _SEND_ERRORS:
            return None  # may have gone out; the close is reported
        self.reporter.success(report.PUBLISH, report.elapsed_ms(started), len(str(data)))
        return True

    # --- incoming, in the gevent loop -------------------------------------------------

    def _on_sio_text(self, payload: bytes) -> None:
        if payload[:2] == _EVENT_PREFIX:
            seen = _events.get(payload)
            if seen is not None:
                self._on_event(*seen, len(payload))
                return
        try:
            happening = self.sio.receive_text(payload.decode("utf-8", "replace"))
        except SocketIOProtocolError as error:
            logger.debug("socket.io protocol error: %s", error)
            self._end(SocketIOEnded("protocol error"))
            return
        frames = self.sio.data_to_send()
        if frames:
            gevent.spawn(self._send_all, frames)
        if isinstance(happening, Event):
            stamps = self._stamps_of(happening) if STAMP_KEY.encode() in payload else []
            if len(_events) >= _CACHE_SIZE:
                _events.clear()
            _events[payload] = (happening, stamps)
            self._on_event(happening, stamps, len(payload))
        elif isinstance(happening, Connected) and happening.namespace == self.namespace:
            waiter = self._waiters.pop(CONNECTED, None)
            if waiter is not None:
                waiter.set(happening)
        elif isinstance(happening, ConnectRefused):
            waiter = self._waiters.pop(CONNECTED, None)
            if waiter is not None:
                refused = SocketIORefused(happening.namespace, happening.message)
                waiter.set_exception(refused)
        elif isinstance(happening, Disconnected) and happening.namespace == self.namespace:
            self._end(SocketIOEnded("disconnect from the server"))
        elif isinstance(happening, Closed):
            self._end(SocketIOEnded("close from the server"))

    def _stamps_of(self, event: Event) -> list[Stamp]:
        path = self.stamp_path
        value = event.args if path is None else follow_path(event.args, path)
        return find_stamps_in_value(value)

    def _on_event(self, event: Event, stamps: list[Stamp], length: int) -> None:
        if stamps and event.name == self.event_name and event.namespace == self.namespace:
            self._on_stamps(stamps, length)

    def _end(self, why: SocketIOEnded) -> None:
        """The session is over: report it (once) and close the socket."""
        session = self.session
        if session is None or not session.is_open or session.intended:
            return
        session.intended = True  # reported here, not again as an unexpected close
        if CONNECTED not in self._waiters:  # a connect still waiting reports its own
            self.reporter.failure(report.DISCONNECT, None, why)
        gevent.spawn(session.kill)

    def _send_all(self, frames: list[str]) -> None:
        for frame in frames:
            try:
                self.send(frame)
            except _SEND_ERRORS:
                return  # the socket is gone; its close is reported
