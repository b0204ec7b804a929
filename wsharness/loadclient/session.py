"""One WebSocket connection on websocket-client, read by its own greenlet.

Locust monkey-patches the standard library with gevent, so websocket-client's
blocking socket calls yield to other users; each socket gets one receive greenlet
that answers pings (websocket-client pongs inside ``recv_data_frame``), hands text
frames to a callback and records how the socket ended: the close code the server
sent, or ``None`` when the connection was lost without a close frame.

The session also carries the three network faults of the drops user: an abrupt
abort (TCP FIN, no close frame), a reset (``SO_LINGER`` 0 then close: RST) and a
read stall (the receive greenlet stops reading, so the server's send queue fills
and pings go unanswered).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import gevent
import websocket
from gevent.event import Event

from wsharness.contract.protocol import CloseCode
from wsharness.loadclient.gauge import GAUGE

TextHandler = Callable[[str], None]
CloseHandler = Callable[["WsSession"], None]

_LINGER_RESET = struct.pack("ii", 1, 0)
_CLOSE_WAIT_S = 2.0


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


class WsSession:
    """A connected socket, its receive greenlet and how it ended."""

    __slots__ = (
        "_on_close",
        "_on_text",
        "_reader",
        "_reading",
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
        self._reading = Event()
        self._reading.set()
        self.closed = Event()
        self.closed_at = 0.0
        self.close_code: int | None = None
        self.intended = False
        GAUGE.socket_opened()
        ws.settimeout(None)
        self._reader = gevent.spawn(self._read_loop)

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
        ws = websocket.WebSocket(sockopt=tuple(sockopt), skip_utf8_validation=True)
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

    def _read_loop(self) -> None:
        try:
            while True:
                if not self._reading.is_set():
                    self._reading.wait()
                opcode, frame = self.ws.recv_data_frame(False)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_code = parse_close_code(frame.data)
                    return
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    self._on_text(frame.data.decode("utf-8", "replace"))
        except (websocket.WebSocketException, OSError, ValueError):
            return  # lost without a close frame: close_code stays None
        finally:
            self._finish()

    def _finish(self) -> None:
        if self.closed.is_set():
            return
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
        self._reading.set()
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
            self.ws.sock.shutdown(socket.SHUT_RDWR)
        self.kill()

    def reset(self) -> None:
        """Drop the connection with a TCP RST (``SO_LINGER`` 0, then close)."""
        self.intended = True
        with contextlib.suppress(OSError, AttributeError):
            self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        self.kill()

    def stall(self, seconds: float) -> bool:
        """Stop reading for ``seconds``; True when the server closed meanwhile."""
        self.intended = True
        self._reading.clear()
        try:
            gevent.sleep(seconds)
        finally:
            self._reading.set()
        return self.closed.wait(0)

    def kill(self) -> None:
        """Close the socket now and stop the receive greenlet."""
        with contextlib.suppress(OSError, websocket.WebSocketException):
            self.ws.shutdown()
        self._reader.kill(block=True, timeout=_CLOSE_WAIT_S)
        self._finish()

    def describe(self) -> dict[str, Any]:
        return {"close_code": self.close_code, "intended": self.intended}
