"""Socket.IO v4 over the WebSocket transport: its packets and a client state machine.

Sans I/O, in the manner of the ``websockets`` library: the caller opens a WebSocket
to :func:`socketio_url`, feeds every text frame it receives to
:meth:`SocketIOClient.receive_text`, which returns what happened (:class:`Opened`,
:class:`Connected`, :class:`Event`, ...), and sends every frame
:meth:`SocketIOClient.data_to_send` hands back.  The machine answers the server's
Engine.IO heartbeat (ping ``2``, pong ``3``) by itself, connects its namespaces once the
Engine.IO handshake (``0{"sid": ...}``) is done, and refuses to emit on a namespace
that is not connected.

The packet codec is the one of python-engineio and python-socketio (``engineio.packet``,
``socketio.packet``; both come with Locust): Engine.IO ``4`` + Socket.IO ``0`` CONNECT,
``1`` DISCONNECT, ``2`` EVENT, ``3`` ACK, ``4`` CONNECT_ERROR, a namespace as
``/name,`` and JSON data, e.g. ``42/live,["notification",{...}]``.  Only this small
state machine is written here.  Binary attachments (``45-``) are not supported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from engineio import packet as eio  # type: ignore[import-untyped]
from socketio import packet as sio  # type: ignore[import-untyped]

ENGINE_IO_VERSION = "4"
DEFAULT_PATH = "/socket.io/"
DEFAULT_NAMESPACE = "/"


class SocketIOProtocolError(ValueError):
    """A frame this client cannot accept (bad packet, unexpected in this state)."""


@dataclass(frozen=True, slots=True)
class Opened:
    """The Engine.IO handshake is done (the server's open packet)."""

    sid: str
    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int


@dataclass(frozen=True, slots=True)
class Connected:
    """A namespace accepted this client."""

    namespace: str
    sid: str


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """A namespace refused this client (CONNECT_ERROR): its message says why."""

    namespace: str
    message: str


@dataclass(frozen=True, slots=True)
class Event:
    """An event the server emitted: its name and arguments (``ack_id`` if it asks one)."""

    namespace: str
    name: str
    args: list[Any]
    ack_id: int | None = None


@dataclass(frozen=True, slots=True)
class Acked:
    """The server acknowledged one of this client's emits."""

    namespace: str
    ack_id: int
    args: list[Any]


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The server disconnected this client from a namespace."""

    namespace: str


@dataclass(frozen=True, slots=True)
class Pinged:
    """The server's heartbeat; the pong is already queued."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The server closed the Engine.IO session."""


Happening = (
    Opened | Connected | ConnectRefused | Event | Acked | Disconnected | Pinged | Closed
)


def socketio_url(
    base: str, path: str = DEFAULT_PATH, query: Mapping[str, str] | None = None
) -> str:
    """The WebSocket URL of a Socket.IO server: ``ws://host/socket.io/?EIO=4&...``.

    ``base`` is ``ws://``, ``wss://``, ``http://`` or ``https://`` with a host; the
    Engine.IO version and the transport come first, then ``query`` (e.g. a token).
    """
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"not a WebSocket or HTTP base URL: {base!r}")
    pairs = {"EIO": ENGINE_IO_VERSION, "transport": "websocket", **(query or {})}
    route = "/" + path.strip("/") + "/"
    return urlunsplit((scheme, parts.netloc, route, urlencode(pairs), ""))


def _namespace(name: str | None) -> str:
    return name or DEFAULT_NAMESPACE


@dataclass
class SocketIOClient:
    """One Socket.IO client session on one WebSocket."""

    namespaces: tuple[str, ...] = (DEFAULT_NAMESPACE,)
    auth: dict[str, Any] | None = None
    sid: str | None = None
    connected: dict[str, str] = field(default_factory=dict)  # namespace -> its sid
    closed: bool = False
    _outgoing: list[str] = field(default_factory=list)
    _next_ack: int = 0

    def __post_init__(self) -> None:
        for name in self.namespaces:
            if not name.startswith("/"):
                raise ValueError(f"namespace {name!r} must start with '/'")

    @property
    def opened(self) -> bool:
        return self.sid is not None

    def data_to_send(self) -> list[str]:
        """The text frames to send now, in order (then forgotten)."""
        frames, self._outgoing = self._outgoing, []
        return frames

    # --- receiving ---------------------------------------------------------------

    def receive_text(self, text: str) -> Happening | None:
        """Take one text frame from the server; what it meant (None: nothing to tell)."""
        if self.closed:
            raise SocketIOProtocolError("frame after the Engine.IO session closed")
        try:
            packet = eio.Packet(encoded_packet=text)
        except (ValueError, IndexError) as error:
            raise SocketIOProtocolError(
                f"not an Engine.IO packet: {text[:40]!r}"
            ) from error
        kind = packet.packet_type
        if kind == eio.OPEN:
            return self._on_open(packet.data)
        if not self.opened:
            raise SocketIOProtocolError(f"Engine.IO packet {kind} before the open packet")
        if kind == eio.PING:
            self._outgoing.append(eio.Packet(eio.PONG, packet.data or None).encode())
            return Pinged()
        if kind == eio.MESSAGE:
            return self._on_message(packet.data)
        if kind == eio.CLOSE:
            self.closed = True
            self.connected.clear()
            return Closed()
        if kind in (eio.NOOP, eio.PONG, eio.UPGRADE):
            return None
        raise SocketIOProtocolError(f"unknown Engine.IO packet type {kind}")

    def _on_open(self, data: Any) -> Opened:
        if self.opened:
            raise SocketIOProtocolError("a second Engine.IO open packet")
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise SocketIOProtocolError("Engine.IO open packet without a sid")
        self.sid = data["sid"]
        for name in self.namespaces:
            self._queue(sio.Packet(sio.CONNECT, data=self.auth, namespace=name))
        return Opened(
            self.sid,
            int(data.get("pingInterval", 25000)),
            int(data.get("pingTimeout", 20000)),
            int(data.get("maxPayload", 1000000)),
        )

    def _on_message(self, data: Any) -> Happening | None:
        if not isinstance(data, str) or not data:
            raise SocketIOProtocolError("Engine.IO message without a Socket.IO packet")
        try:
            packet = sio.Packet(encoded_packet=data)
        except (ValueError, TypeError) as error:
            raise SocketIOProtocolError(f"not a Socket.IO packet: {data[:40]!r}") from error
        if packet.attachment_count:
            raise SocketIOProtocolError("binary Socket.IO packets are not supported")
        namespace = _namespace(packet.namespace)
        kind = packet.packet_type
        if kind == sio.EVENT:
            return self._on_event(namespace, packet)
        if kind == sio.CONNECT:
            sid = packet.data.get("sid") if isinstance(packet.data, dict) else None
            self.connected[namespace] = str(sid or "")
            return Connected(namespace, str(sid or ""))
        if kind == sio.CONNECT_ERROR:
            self.connected.pop(namespace, None)
            return ConnectRefused(namespace, _error_message(packet.data))
        if kind == sio.DISCONNECT:
            self.connected.pop(namespace, None)
            return Disconnected(namespace)
        if kind == sio.ACK:
            args = packet.data if isinstance(packet.data, list) else []
            return Acked(namespace, int(packet.id or 0), args)
        raise SocketIOProtocolError(f"unexpected Socket.IO packet type {kind}")

    def _on_event(self, namespace: str, packet: sio.Packet) -> Event:
        data = packet.data
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise SocketIOProtocolError("EVENT packet without an event name")
        return Event(namespace, data[0], data[1:], packet.id)

    # --- sending -----------------------------------------------------------------

    def emit(
        self, name: str, *args: Any, namespace: str = DEFAULT_NAMESPACE, ack: bool = False
    ) -> int | None:
        """Queue one event; returns its ack id when ``ack`` (see :class:`Acked`)."""
        self._require_connected(namespace)
        ack_id = None
        if ack:
            ack_id, self._next_ack = self._next_ack, self._next_ack + 1
        self._queue(
            sio.Packet(sio.EVENT, data=[name, *args], namespace=namespace, id=ack_id)
        )
        return ack_id

    def ack(self, event: Event, *args: Any) -> None:
        """Answer an event that asked for an acknowledgement."""
        if event.ack_id is None:
            raise ValueError(f"event {event.name!r} asked for no acknowledgement")
        reply = sio.Packet(sio.ACK, data=list(args), namespace=event.namespace)
        reply.id = event.ack_id
        self._queue(reply)

    def disconnect(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Leave ``namespace`` (the WebSocket stays open for the others)."""
        self._require_connected(namespace)
        self.connected.pop(namespace)
        self._queue(sio.Packet(sio.DISCONNECT, namespace=namespace))

    def _require_connected(self, namespace: str) -> None:
        if namespace not in self.connected:
            raise SocketIOProtocolError(f"namespace {namespace} is not connected")

    def _queue(self, packet: sio.Packet) -> None:
        encoded = packet.encode()
        if not isinstance(encoded, str):  # a list: binary attachments
            raise SocketIOProtocolError("binary Socket.IO packets are not supported")
        self._outgoing.append(eio.Packet(eio.MESSAGE, encoded).encode())


def _error_message(data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return str(data) if data is not None else "refused"
