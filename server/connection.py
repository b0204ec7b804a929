"""The aiohttp shell around one socket: read frames, write frames, keep time.

Every socket has exactly one task, the aiohttp handler running :meth:`Connection.serve`
(its reader).  Writes go straight to the transport while the peer keeps up; a socket
that falls behind gets a bounded backlog and a writer task of its own until it
catches up, and is closed with 1013 when the backlog overflows.  Nothing here
decides policy: :class:`server.session.Session` and :class:`server.hub.Hub` do.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import WebSocketError, WSMsgType, web
from aiohttp.abc import AbstractStreamWriter
from websockets.frames import Frame, Opcode

from wsharness.contract.clock import now_ms_int
from wsharness.contract.protocol import (
    CLOSE_REASONS,
    TRACEPARENT,
    ClientType,
    CloseCode,
    ErrorCode,
    ProtocolError,
    ServerType,
    encode,
    parse_client_frame,
)
from wsharness.contract.tokens import InvalidToken
from wsharness.server import deflate
from wsharness.server.brokers.base import BrokerUnavailable
from wsharness.server.history import Replay
from wsharness.server.hub import text_frame
from wsharness.server.session import Deadline, Session
from wsharness.telemetry import spans

if TYPE_CHECKING:
    from wsharness.server.app import Server

CLOSE_TIMEOUT_SECONDS = 2.0
PING_FRAME = Frame(Opcode.PING, b"").serialize(mask=False)


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
        server: Server,
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
        self.send_text(
            encode(
                ServerType.WELCOME,
                connection_id=self.session.connection_id,
                sub=self.session.identity.sub,
                expires_at=self.session.expires_at_ms,
            ),
            ServerType.WELCOME,
        )
        self._schedule_deadline()
        ws = self.ws
        try:
            while True:
                msg = await ws.receive()
                self.answered = True  # any frame proves the peer is there
                if msg.type is WSMsgType.TEXT:
                    await self._on_text(msg.data)
                elif msg.type is WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self.start_close(CloseCode.UNSUPPORTED_DATA)
                elif msg.type is WSMsgType.CLOSE:
                    self._note_close(int(msg.data), "client")
                    await ws.close()
                    return
                elif msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    self._note_abnormal_end(msg)
                    return
        finally:
            self._finish()

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
            self._note_close(int(msg.data.code), "server")  # 1007 / 1009, closed by aiohttp
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
        if not self.session.allow_message(time.monotonic()):
            self.start_close(CloseCode.POLICY_VIOLATION)
            return
        try:
            frame_type, frame = parse_client_frame(text)
        except ProtocolError as exc:
            self.server.metrics.message_in("invalid")
            self.send_error(exc.code, str(exc))
            return
        self.server.metrics.message_in(frame_type.value)
        with spans.receiving(self.trace, frame_type.value, frame.get(TRACEPARENT)):
            await self._dispatch(frame_type, frame, text)

    async def _dispatch(
        self, frame_type: ClientType, frame: dict[str, Any], text: str
    ) -> None:
        if frame_type is ClientType.ECHO:
            self.send_text(text, ServerType.ECHO)
        elif frame_type is ClientType.SUBSCRIBE:
            self._subscribe(frame["topic"], frame.get("since"))
        elif frame_type is ClientType.UNSUBSCRIBE:
            self._unsubscribe(frame["topic"])
        elif frame_type is ClientType.PUBLISH:
            await self._publish(frame["topic"], frame["data"])
        elif frame_type is ClientType.REFRESH:
            self._refresh(frame["token"])

    def _subscribe(self, topic: str, since: str | None) -> None:
        if not self.session.may_use(topic):
            self.start_close(CloseCode.TOPIC_NOT_ALLOWED)
            return
        self.session.topics.add(topic)
        wait = self.server.resume_wait_seconds
        replay = self.server.hub.subscribe(
            self, topic, since, now_ms_int(), may_wait=wait > 0
        )
        if replay is None:  # the cursor may still be on its way: wait for it, bounded
            asyncio.get_running_loop().call_later(wait, self._give_up_resume, topic)
            return
        self.answer_subscribe(topic, replay, resumed=since is not None)

    def _give_up_resume(self, topic: str) -> None:
        replay = self.server.hub.give_up(self, topic)
        if replay is not None:
            self.answer_subscribe(topic, replay)

    def answer_subscribe(self, topic: str, replay: Replay, resumed: bool = True) -> None:
        """Send ``subscribed`` and what is replayed; count the resume's outcome."""
        if resumed:
            self.server.metrics.replay("recovered" if replay.recovered else "not_recovered")
        self.send_text(
            encode(
                ServerType.SUBSCRIBED,
                topic=topic,
                recovered=replay.recovered,
                replayed=len(replay.entries),
            ),
            ServerType.SUBSCRIBED,
        )
        for entry in replay.entries:
            self.send_frame(entry.frame)
        if replay.entries:
            self.server.metrics.message_out(ServerType.MESSAGE, len(replay.entries))

    def _unsubscribe(self, topic: str) -> None:
        if not self.server.hub.unsubscribe(self, topic):
            self.send_error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {topic!r}")
            return
        self.session.topics.discard(topic)
        self.send_text(
            encode(ServerType.UNSUBSCRIBED, topic=topic), ServerType.UNSUBSCRIBED
        )

    async def _publish(self, topic: str, data: Any) -> None:
        if not self.session.identity.can_publish:
            self.send_error(ErrorCode.FORBIDDEN, "publishing needs scope 'publish'")
            return
        if not self.session.may_use(topic):
            self.start_close(CloseCode.TOPIC_NOT_ALLOWED)
            return
        try:
            message_id = await self.server.publish(
                topic, data, spans.current_trace_context()
            )
        except BrokerUnavailable as exc:
            self.send_error(ErrorCode.BROKER_UNAVAILABLE, str(exc))
            return
        self.send_text(
            encode(ServerType.PUBLISHED, topic=topic, id=message_id), ServerType.PUBLISHED
        )

    def _refresh(self, token: str) -> None:
        try:
            identity = self.server.verifier.verify(token)
        except InvalidToken as exc:
            self.send_error(ErrorCode.REFRESH_REFUSED, str(exc))
            return
        outcome = self.session.refresh(identity)
        if not outcome.accepted:
            self.send_error(ErrorCode.REFRESH_REFUSED, outcome.reason)
            return
        for topic in outcome.dropped_topics:
            self.server.hub.unsubscribe(self, topic)
            self.send_text(
                encode(ServerType.UNSUBSCRIBED, topic=topic), ServerType.UNSUBSCRIBED
            )
        self._schedule_deadline()
        self.send_text(
            encode(ServerType.REFRESHED, expires_at=self.session.expires_at_ms),
            ServerType.REFRESHED,
        )

    # -- token deadlines -------------------------------------------------------

    def _schedule_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        when, _ = self.session.next_deadline(time.time())
        loop = asyncio.get_running_loop()
        delay = max(when - time.time(), 0.0)
        self._timer = loop.call_at(loop.time() + delay, self._on_deadline)

    def _on_deadline(self) -> None:
        self._timer = None
        _, kind = self.session.next_deadline(time.time())
        if kind is Deadline.WARN:
            self.session.mark_warned()
            self.send_text(
                encode(ServerType.TOKEN_EXPIRING, expires_at=self.session.expires_at_ms),
                ServerType.TOKEN_EXPIRING,
            )
            self._schedule_deadline()
        else:
            self.start_close(CloseCode.TOKEN_EXPIRED)

    # -- outbound --------------------------------------------------------------

    def send_error(self, code: ErrorCode, message: str) -> None:
        self.server.metrics.protocol_error(code.value)
        self.send_text(
            encode(ServerType.ERROR, code=code.value, message=message), ServerType.ERROR
        )

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
