"""The aiohttp shell around one socket: read frames, write frames, keep time.

Every socket has exactly one task, the aiohttp handler running :meth:`Connection.serve`
(its reader).  Writes go straight to the transport while the peer keeps up; a socket
that falls behind gets a bounded backlog and a writer task of its own until it
catches up, and is closed with 1013 when the backlog overflows.  Nothing here
decides what a frame gets: the core (:mod:`wsharness.server.core`) does, and this
module carries out its outcomes.  An exception while handling one frame closes the
socket with 1011, counted and logged (once a minute per kind of failure).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, Protocol

from aiohttp import WebSocketError, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from websockets.frames import Frame, Opcode

from wsharness.contract.protocol import (
    CLOSE_REASONS,
    TRACEPARENT,
    CloseCode,
    ServerType,
)
from wsharness.contract.tokens import InvalidToken, TokenVerifier
from wsharness.server import deflate
from wsharness.server.brokers.base import BrokerUnavailable
from wsharness.server.config import Settings
from wsharness.server.core import (
    INTERNAL_ERROR,
    TRANSPORT_REFUSALS,
    AwaitCursor,
    Close,
    Core,
    Immediate,
    Publish,
    Refreshed,
    Refuse,
    Reply,
    Subscribed,
)
from wsharness.server.history import Replay
from wsharness.server.hub import text_frame
from wsharness.server.rare_log import RareLog
from wsharness.server.session import Session
from wsharness.telemetry import spans
from wsharness.telemetry.metrics import ServerMetrics

CLOSE_TIMEOUT_SECONDS = 2.0
PING_FRAME = Frame(Opcode.PING, b"").serialize(mask=False)


class Host(Protocol):
    """What a connection needs from its server instance (``server.app.Server``)."""

    settings: Settings
    metrics: ServerMetrics
    verifier: TokenVerifier
    core: Core[Connection]
    rare_log: RareLog

    async def publish(self, topic: str, data: Any, trace_context: dict[str, str]) -> str:
        """Hand a notification to the broker; raise BrokerUnavailable."""
        ...

    def forget(self, connection: Connection) -> None:
        """The connection has closed: drop it and its subscriptions."""
        ...


class Connection:
    """One open socket: its session, its write path and its close bookkeeping."""

    __slots__ = (
        "_backlog",
        "_backlog_bytes",
        "_closer",
        "_timer",
        "_writer",
        "answered",
        "bytes_in",
        "bytes_out",
        "close_code",
        "close_initiator",
        "deflate",
        "messages_in",
        "messages_out",
        "server",
        "session",
        "stream",
        "trace",
        "transport",
        "ws",
    )

    def __init__(
        self,
        server: Host,
        ws: web.WebSocketResponse,
        stream: AbstractStreamWriter,
        transport: asyncio.Transport,
        session: Session,
        trace: spans.ConnectionTrace | None,
    ) -> None:
        self.server = server
        self.ws = ws
        self.stream = stream
        self.transport = transport
        # Pause (and so drain()) exactly where this socket counts as behind.
        transport.set_write_buffer_limits(high=server.settings.write_buffer_high_bytes)
        self.session = session
        self.trace = trace
        self.deflate = deflate.for_socket(ws)  # None unless permessage-deflate
        self._backlog: deque[bytes] | None = None
        self._backlog_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.close_code: int | None = None
        self.close_initiator = ""
        self.answered = True
        self.messages_in = self.messages_out = self.bytes_in = self.bytes_out = 0

    # -- life ------------------------------------------------------------------

    async def serve(self) -> None:
        """Greet, read until the socket closes, then account for the close."""
        core = self.server.core
        self._apply(core.welcome(self.session))
        self._schedule_deadline()
        ws = self.ws
        try:
            while True:
                msg = await ws.receive()
                self.answered = True  # any frame proves the peer is there
                kind = msg.type
                if kind is WSMsgType.CLOSE:
                    self._note_close(int(msg.data), "client")
                    await ws.close()
                    return
                if kind in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    self._note_abnormal_end(msg)
                    return
                if self.close_code is not None:
                    continue  # closing: what still arrives is read and dropped
                try:
                    await self._on_frame(kind, msg.data)
                except ConnectionError:
                    pass  # the peer is gone: the next receive() says how
                except Exception as exc:  # no frame may kill the socket silently
                    self._internal_error(exc)
        finally:
            self._finish()

    async def _on_frame(self, kind: WSMsgType, data: Any) -> None:
        if kind is WSMsgType.TEXT:
            await self._on_text(data)
        elif kind is WSMsgType.PING or kind is WSMsgType.PONG:
            refusal = self.server.core.receive_control(self, time.monotonic())
            if refusal is not None:
                self._apply(refusal)
            elif kind is WSMsgType.PING:
                await self.ws.pong(data)
        elif kind is WSMsgType.BINARY:
            self._apply(self.server.core.receive_binary())

    def _internal_error(self, exc: Exception) -> None:
        self.server.metrics.internal_error()
        self.server.rare_log.exception("closing a socket (1011): unexpected error", exc)
        self._apply(INTERNAL_ERROR)

    def heartbeat(self) -> None:
        """One heartbeat round: close a peer silent since the last ping, else ping."""
        if self.close_code is not None:
            return
        if not self.answered:
            self.server.metrics.heartbeat_timeout()
            self._note_close(CloseCode.ABNORMAL, "heartbeat")
            self.transport.abort()  # an unresponsive peer gets no close handshake
            return
        self.answered = False
        self.transport.write(PING_FRAME)

    def _note_close(self, code: int, initiator: str) -> None:
        if self.close_code is None:
            self.close_code = code
            self.close_initiator = initiator

    def _note_abnormal_end(self, msg: Any) -> None:
        if self.close_code is not None:
            return
        if msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):
            code = int(msg.data.code)  # 1002 / 1007 / 1009, closed by aiohttp's reader
            reason = getattr(msg.data, "reason", "") or TRANSPORT_REFUSALS.get(code)
            if reason:
                self.server.metrics.frame_refused(reason)
            self._note_close(code, "server")
        else:
            self._note_close(CloseCode.ABNORMAL, "peer")

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._writer is not None:
            self._writer.cancel()
        self._backlog = None
        self._note_close(CloseCode.ABNORMAL, "peer")
        self.server.forget(self)
        code = int(self.close_code or CloseCode.ABNORMAL)
        self.server.metrics.closed(code, self.close_initiator)
        counts = (self.messages_in, self.messages_out, self.bytes_in, self.bytes_out)
        identity = (self.session.connection_id, self.session.identity.sub)
        spans.finish_connection(self.trace, identity, (code, self.close_initiator), counts)

    # -- inbound ---------------------------------------------------------------

    async def _on_text(self, text: str) -> None:
        self.messages_in += 1
        self.bytes_in += len(text)
        server = self.server
        core = server.core
        accepted = core.accept(self, text, time.monotonic())
        if not isinstance(accepted, tuple):  # refused before it was handled
            if isinstance(accepted, Refuse):
                server.metrics.message_in("invalid")
            self._apply(accepted)
            return
        frame_type, frame = accepted
        server.metrics.message_in(frame_type.value)
        with spans.receiving(self.trace, frame_type.value, frame.get(TRACEPARENT)):
            outcome = core.handle(self, frame_type, frame, text)
            if isinstance(outcome, Publish):
                await self._publish(outcome)
            else:
                self._apply(outcome)

    def _apply(self, outcome: Immediate) -> None:
        """Carry out what the core decided (anything but a publish, which waits)."""
        if isinstance(outcome, Reply):
            self.send_text(outcome.text, outcome.frame_type)
        elif isinstance(outcome, Refuse):
            self.server.metrics.protocol_error(outcome.code.value)
            self.server.metrics.frame_refused(outcome.reason)
            self.send_text(outcome.text, ServerType.ERROR)
        elif isinstance(outcome, Close):
            if outcome.reason:
                self.server.metrics.frame_refused(outcome.reason)
            self.start_close(outcome.code)
        elif isinstance(outcome, Subscribed):
            self._send_subscribed(outcome)
        elif isinstance(outcome, AwaitCursor):
            loop = asyncio.get_running_loop()
            loop.call_later(outcome.seconds, self._give_up_resume, outcome.topic)
        elif isinstance(outcome, Refreshed):
            for reply in outcome.replies:
                self.send_text(reply.text, reply.frame_type)
            self._schedule_deadline()
        else:  # Verify: a refresh token
            self._apply(self._verify(outcome.token))

    def _send_subscribed(self, outcome: Subscribed) -> None:
        if outcome.resume is not None:
            self.server.metrics.replay(outcome.resume)
        self.send_text(outcome.text, ServerType.SUBSCRIBED)
        for entry in outcome.entries:
            self.send_frame(entry.frame)
        if outcome.entries:
            self.server.metrics.message_out(ServerType.MESSAGE, len(outcome.entries))

    def answer_subscribe(self, topic: str, replay: Replay) -> None:
        """A pending resume settled by a fan-out: answer it now."""
        self._apply(self.server.core.answer(topic, replay))

    def _give_up_resume(self, topic: str) -> None:
        answer = self.server.core.give_up(self, topic)
        if answer is not None:
            self._apply(answer)

    async def _publish(self, publish: Publish) -> None:
        core = self.server.core
        try:
            message_id = await self.server.publish(
                publish.topic, publish.data, spans.current_trace_context()
            )
        except BrokerUnavailable as exc:
            self._apply(core.publish_failed(str(exc)))
            return
        self._apply(core.published(publish.topic, message_id))

    def _verify(self, token: str) -> Refreshed | Refuse:
        core = self.server.core
        try:
            identity = self.server.verifier.verify(token)
        except InvalidToken as exc:
            return core.refresh_refused(str(exc))
        return core.refresh(self, identity)

    # -- token deadlines -------------------------------------------------------

    def _schedule_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        now = time.time()
        when = self.server.core.next_deadline(self.session, now)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + max(when - now, 0.0), self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        outcome = self.server.core.on_deadline(self.session, time.time())
        self._apply(outcome)
        if isinstance(outcome, Reply):  # the warning: expiry comes next
            self._schedule_deadline()

    # -- outbound --------------------------------------------------------------

    def send_text(self, text: str, frame_type: ServerType) -> None:
        self.server.metrics.message_out(frame_type.value)
        self.send_frame(text_frame(text.encode()))

    def send_frame(self, frame: bytes) -> None:
        """Write a ready frame now, or queue it if the peer is behind; never wait."""
        if self.close_code is not None:
            return
        if self.deflate is not None:
            frame = self.deflate(frame)  # once per notification, shared by its sockets
        self.messages_out += 1
        self.bytes_out += len(frame)
        if self._backlog is None:
            if (
                self.transport.get_write_buffer_size()
                <= self.server.settings.write_buffer_high_bytes
            ):
                self.transport.write(frame)
                return
            self._backlog = deque()
            self._writer = asyncio.get_running_loop().create_task(self._write_backlog())
        self._backlog.append(frame)
        self._backlog_bytes += len(frame)
        if self._backlog_overflows():
            self.server.metrics.send_queue_drop()
            self.start_close(CloseCode.TRY_AGAIN_LATER)

    def _backlog_overflows(self) -> bool:
        settings = self.server.settings
        backlog = self._backlog
        return backlog is not None and (
            len(backlog) > settings.send_queue_messages
            or self._backlog_bytes > settings.send_queue_bytes
        )

    async def _write_backlog(self) -> None:
        """Feed a socket that fell behind as fast as its peer reads, then stand down."""
        high = self.server.settings.write_buffer_high_bytes
        while self._backlog:
            await self.stream.drain()  # returns once the buffer is at its low-water mark
            while self._backlog and self.transport.get_write_buffer_size() <= high:
                frame = self._backlog.popleft()
                self._backlog_bytes -= len(frame)
                self.transport.write(frame)
        self._backlog = None
        self._writer = None

    # -- closing ---------------------------------------------------------------

    def start_close(self, code: CloseCode, flush_first: bool = False) -> None:
        """Close with ``code`` in the background (once); optionally after the backlog."""
        if self._closer is not None or self.ws.closed:
            return
        self._note_close(code, "server")
        self._closer = asyncio.get_running_loop().create_task(
            self._close(code, flush_first)
        )

    async def _close(self, code: CloseCode, flush_first: bool) -> None:
        writer = self._writer
        if flush_first and writer is not None:
            await asyncio.wait([writer], timeout=CLOSE_TIMEOUT_SECONDS)
        reason = CLOSE_REASONS.get(code, "").encode()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self.ws.close(code=code, message=reason, drain=False)
        except TimeoutError:
            pass
        finally:
            if not self.transport.is_closing():
                self.transport.abort()

    async def wait_closed(self) -> None:
        if self._closer is not None:
            await asyncio.shield(self._closer)
