"""One WebSocket connection: websocket-client upgrades and sends, we read.

Locust monkey-patches the standard library with gevent.  websocket-client performs
the upgrade (headers, TLS, proxies, status errors) and sends masked frames; the
receive side is ours and built for fan-out: one read takes whatever the socket
holds, :class:`~wsharness.loadclient.frames.FrameReader` splits it into messages, and
each text payload goes to a callback as bytes (pings are answered, the close code is
kept).  On a plain ``ws://`` socket the read runs in a callback of the gevent loop
when the descriptor is readable, so an idle socket owns no greenlet: on Linux every
plain socket of the process sits in one ``epoll`` set (:class:`FanIn`) that a single
gevent watcher reads, so a fan-out reaching thousands of sockets costs one wake-up
and a loop over the ready ones, not one loop callback each; elsewhere each socket
has its own gevent watcher.  On ``wss://`` (where TLS may hold decrypted bytes the
descriptor no longer shows) one receive greenlet per socket reads instead.
Callbacks run in the loop and must not block: anything that sends (a pong, the
close reply) is handed to a greenlet.

The session also carries the three network faults of the drops user: an abrupt
abort (TCP FIN, no close frame), a reset (``SO_LINGER`` 0 then close: RST) and a
read stall (reading stops, so the server's send queue fills and pings go
unanswered).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import gevent
import websocket
from gevent import monkey
from gevent.event import Event

from wsharness.contract.protocol import CloseCode
from wsharness.loadclient.frames import OP_CLOSE, OP_PING, OP_TEXT, FrameError, FrameReader
from wsharness.loadclient.gauge import GAUGE

TextHandler = Callable[[bytes], None]
CloseHandler = Callable[["WsSession"], None]

_LINGER_RESET = struct.pack("ii", 1, 0)
_CLOSE_WAIT_S = 2.0
RECV_BYTES = 65536
_READ = 1  # libev EV_READ
_NO_LOCK = contextlib.nullcontext()


def parse_close_code(payload: bytes) -> int | None:
    """The status code of a close frame's payload (``None`` when it has none)."""
    if len(payload) < 2:
        return None
    return int.from_bytes(payload[:2], "big")


def open_tcp(
    url: str, timeout: float, sockopt: Sequence[tuple[int, int, int]], source_address: str
) -> socket.socket:
    """A TCP (and for ``wss``, TLS) connection to ``url``'s host from ``source_address``."""
    parsed = urlparse(url)
    secure = parsed.scheme == "wss"
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (443 if secure else 80)
    family = socket.AF_INET6 if ":" in source_address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        for level, option, value in sockopt:
            sock.setsockopt(level, option, value)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(timeout)
        sock.bind((source_address, 0))
        sock.connect((host, port))
        if secure:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        return sock
    except BaseException:
        sock.close()
        raise


def _kernel_epoll() -> type[select.epoll] | None:
    """``select.epoll``, which gevent's patching (Locust's) hides from ``select``."""
    try:
        epoll: type[select.epoll] = monkey.get_original("select", "epoll")
    except AttributeError:  # not Linux
        return None
    return epoll


EPOLL = _kernel_epoll()


class FanIn:
    """One ``epoll`` set for the process's plain sockets, read by one gevent watcher.

    Level-triggered: a socket with bytes left is reported again on the next round.
    """

    _instance: FanIn | None = None
    MAX_EVENTS = 1024

    def __init__(self) -> None:
        assert EPOLL is not None, "FanIn.get() makes one only where epoll exists"
        self._epoll = EPOLL()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._watcher = gevent.get_hub().loop.io(self._epoll.fileno(), _READ)
        self._watcher.start(self._ready)
        self._pid = os.getpid()

    @classmethod
    def get(cls) -> FanIn | None:
        """The process's set (made on first use, again after a fork); None without epoll."""
        if EPOLL is None:
            return None
        if cls._instance is None or cls._instance._pid != os.getpid():
            cls._instance = cls()
        return cls._instance

    @property
    def watching(self) -> int:
        """How many sockets the set holds."""
        return len(self._callbacks)

    def watch(self, fd: int) -> _Watch:
        return _Watch(self, fd)

    def start(self, fd: int, callback: Callable[[], None]) -> None:
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except FileExistsError:  # stopped without unregistering: never mind
            self._epoll.modify(fd, select.EPOLLIN)
        self._callbacks[fd] = callback

    def stop(self, fd: int) -> None:
        if self._callbacks.pop(fd, None) is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)

    def _ready(self) -> None:
        callbacks = self._callbacks
        for fd, _ in self._epoll.poll(0, self.MAX_EVENTS):
            callback = callbacks.get(fd)
            if callback is not None:
                callback()


class _Watch:
    """One socket's place in a :class:`FanIn`, shaped like a gevent io watcher."""

    __slots__ = ("fan_in", "fd")

    def __init__(self, fan_in: FanIn, fd: int) -> None:
        self.fan_in = fan_in
        self.fd = fd

    def start(self, callback: Callable[[], None]) -> None:
        self.fan_in.start(self.fd, callback)

    def stop(self) -> None:
        self.fan_in.stop(self.fd)

    close = stop


class WsSession:
    """A connected socket, its reader and how it ended."""

    __slots__ = (
        "_fd",
        "_frames",
        "_on_close",
        "_on_text",
        "_reader",
        "_resume",
        "_watcher",
        "close_code",
        "closed",
        "closed_at",
        "intended",
        "ws",
    )

    def __init__(
        self, ws: websocket.WebSocket, on_text: TextHandler, on_close: CloseHandler | None
    ) -> None:
        self.ws = ws
        self._on_text = on_text
        self._on_close = on_close
        self._frames = FrameReader()
        self.closed = Event()
        self.closed_at = 0.0
        self.close_code: int | None = None
        self.intended = False
        self._resume: Event | None = None  # set while a stalled greenlet reader waits
        self._reader: gevent.Greenlet | None = None
        self._watcher: Any = None
        ws.settimeout(None)
        # websocket-client's reading side is never used again: let it go
        vars(ws).update(
            handshake_response=None, frame_buffer=None, cont_frame=None, readlock=_NO_LOCK
        )
        GAUGE.socket_opened()
        sock = ws.sock
        assert sock is not None  # connected
        if isinstance(sock, ssl.SSLSocket):
            self._fd = -1
            self._reader = gevent.spawn(self._read_loop)
        else:
            self._fd = sock.fileno()
            os.set_blocking(self._fd, False)  # gevent's sockets are; reads must be
            fan_in = FanIn.get()
            if fan_in is not None:
                self._watcher = fan_in.watch(self._fd)
            else:
                self._watcher = gevent.get_hub().loop.io(self._fd, _READ)
            self._watcher.start(self._readable)

    @classmethod
    def connect(
        cls,
        url: str,
        headers: Sequence[str],
        timeout: float,
        on_text: TextHandler,
        on_close: CloseHandler | None = None,
        sockopt: Sequence[tuple[int, int, int]] = (),
        source_address: str | None = None,
    ) -> WsSession:
        """Open the socket (raises websocket-client's errors on failure)."""
        ws = websocket.WebSocket(sockopt=list(sockopt), skip_utf8_validation=True)
        sock = None
        if source_address is not None:
            sock = open_tcp(url, timeout, sockopt, source_address)
        try:
            ws.connect(url, header=list(headers), timeout=timeout, socket=sock)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        return cls(ws, on_text, on_close)

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    def send(self, text: str) -> None:
        self.ws.send(text)

    # --- reading ----------------------------------------------------------

    def _readable(self) -> None:
        """The descriptor is readable (a callback of the gevent loop: must not block)."""
        try:
            data = os.read(self._fd, RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        self._received(data)

    def _read_loop(self) -> None:
        """The greenlet reader of a TLS socket."""
        sock = self.ws.sock
        try:
            while self.is_open and sock is not None:
                if self._resume is not None:
                    self._resume.wait()
                data = sock.recv(RECV_BYTES)
                if not data:
                    break
                self._received(data)
        except (OSError, ValueError):
            pass
        self._lost()

    def _received(self, data: bytes) -> None:
        """Hand every complete message in ``data`` on; stop at a close frame."""
        try:
            messages = self._frames.feed(data)
        except FrameError as error:
            self._stop_reading()
            gevent.spawn(self._answer_close, error.close_code)
            return
        on_text = self._on_text
        for opcode, payload in messages:
            if opcode == OP_TEXT:
                on_text(payload)
            elif opcode == OP_PING:
                gevent.spawn(self._pong, payload)
            elif opcode == OP_CLOSE:
                self.close_code = parse_close_code(payload)
                self._stop_reading()
                gevent.spawn(self._answer_close, CloseCode.NORMAL)
                return

    def _pong(self, payload: bytes) -> None:
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.pong(payload)

    def _answer_close(self, code: int) -> None:
        """Send our close frame after the server's (or a framing error), then end."""
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.send_close(status=code)
        self._finish()

    def _lost(self) -> None:
        """The connection ended without a close frame: ``close_code`` stays None."""
        self._stop_reading()
        self._finish()

    def _stop_reading(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()

    def _finish(self) -> None:
        if self.closed.is_set():
            return
        self._stop_reading()
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        self.closed_at = time.perf_counter()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.shutdown()
        GAUGE.socket_closed()
        self.closed.set()
        if self._on_close is not None:
            self._on_close(self)

    # --- ending the socket on purpose -------------------------------------

    def close(self, code: int = CloseCode.NORMAL) -> None:
        """A clean close: send a close frame and wait briefly for the server's."""
        self.intended = True
        self._unstall()
        if self.closed.is_set():
            return
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.send_close(status=code)
        if not self.closed.wait(_CLOSE_WAIT_S):
            self.kill()

    def abort(self) -> None:
        """Drop the connection abruptly: TCP shutdown, no close frame."""
        self.intended = True
        with contextlib.suppress(OSError, AttributeError):
            self.ws.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
        self.kill()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (``SO_LINGER`` 0, then close)."""
        self.intended = True
        with contextlib.suppress(OSError, AttributeError):
            self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)  # type: ignore[union-attr]
        self.kill()

    def stall(self, seconds: float) -> bool:
        """Stop reading for ``seconds``; True when the server closed meanwhile."""
        self.intended = True
        if self._watcher is not None:
            self._watcher.stop()
        else:
            self._resume = Event()
        try:
            gevent.sleep(seconds)
        finally:
            self._unstall()
        return self.closed.wait(0)

    def _unstall(self) -> None:
        if self._watcher is not None and not self.closed.is_set():
            self._watcher.start(self._readable)
        resume, self._resume = self._resume, None
        if resume is not None:
            resume.set()

    def kill(self) -> None:
        """Close the socket now and stop reading."""
        self._stop_reading()
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.shutdown()
        if self._reader is not None:
            self._reader.kill(block=True, timeout=_CLOSE_WAIT_S)
        self._finish()
