"""Unmasked client frames close 1002 (RFC 6455 section 5.1), which aiohttp misses.

aiohttp's frame reader serves clients and servers alike, so it accepts a frame
whether or not it is masked.  :class:`MaskCheck` stands in front of it on every
server socket: it follows the frame boundaries in the byte stream (two to ten header
bytes per frame, no copy of the payload) and, at the first frame without a mask,
fails the socket's message queue with :class:`UnmaskedFrame` as aiohttp's reader
fails it for any protocol error: ``receive()`` then answers with a 1002 close.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import WebSocketError, web
from aiohttp.http import WebSocketWriter
from aiohttp.web_request import BaseRequest

from wsharness.contract.protocol import CloseCode

log = logging.getLogger(__name__)

_MASK_BIT = 0x80
_MASK_BYTES = 4
_STOP = (True, b"")  # what aiohttp's reader returns once it has failed the queue


class UnmaskedFrame(WebSocketError):
    """A client sent a frame without a mask."""

    reason = "unmasked_frame"  # the refused-frame metric label

    def __init__(self) -> None:
        super().__init__(CloseCode.PROTOCOL_ERROR, "client frames must be masked")


class MaskCheck:
    """Passes bytes to aiohttp's reader while every frame in them is masked."""

    __slots__ = ("_head", "_parser", "_queue", "_refused", "_skip")

    def __init__(self, parser: Any, queue: Any) -> None:
        self._parser = parser
        self._queue = queue
        self._skip = 0  # bytes of the current frame (mask key, payload) still to come
        self._head = b""  # a frame header split across two reads
        self._refused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._refused:
            return _STOP
        if self.all_masked(data):
            result: tuple[bool, bytes] = self._parser.feed_data(data)
            return result
        self._refused = True
        self._queue.set_exception(UnmaskedFrame())
        return _STOP

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def all_masked(self, data: bytes) -> bool:
        """Walk the frame headers in ``data``; False at one without the mask bit."""
        if self._head:
            data = self._head + data
            self._head = b""
        position = self._skip
        end = len(data)
        while position < end:
            if end - position < 2:
                break
            second = data[position + 1]
            if not second & _MASK_BIT:
                return False
            length = second & 0x7F
            header = 2
            if length >= 126:
                header = 4 if length == 126 else 10
                if end - position < header:
                    break
                length = int.from_bytes(data[position + 2 : position + header], "big")
            position += header + _MASK_BYTES + length
        else:
            self._skip = position - end
            return True
        self._head = bytes(data[position:])  # the rest of this header comes next read
        self._skip = 0
        return True


class MaskCheckedResponse(web.WebSocketResponse):
    """A ``WebSocketResponse`` whose reader sits behind a :class:`MaskCheck`."""

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        handler = request.protocol
        # Bytes a client sent before it saw the 101 are fed to the reader as soon as
        # it is installed: hold them back so that they pass the check too.
        early = getattr(handler, "_message_tail", b"")
        if early:
            handler._message_tail = b""
        super()._post_start(request, protocol, writer)
        parser = getattr(handler, "_payload_parser", None)
        if parser is None:  # not the aiohttp this was written for
            log.warning("unmasked client frames cannot be refused with this aiohttp")
            return
        check = MaskCheck(parser, self._reader)
        handler._payload_parser = check
        if early:
            check.feed_data(early)
