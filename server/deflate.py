"""permessage-deflate (RFC 7692) for the frames the server writes itself.

With ``--compress`` aiohttp negotiates the extension, but the server builds its frames
once and writes them straight to each transport, so aiohttp's per-socket compressor
never sees them.  This module compresses those ready frames instead:

- every message is compressed on its own, with no reference to earlier ones, and the
  handshake says so (``server_no_context_takeover``, added to aiohttp's answer by
  :func:`advertise_no_context_takeover`);  so one compressed frame is valid on every
  socket that negotiated the extension, and a fan-out compresses a notification once,
  however many sockets receive it (recent frames compressed are remembered, so a
  replay of the history to many resuming sockets is compressed once too);
- one compressor per window size for the whole process, none per socket: a socket
  costs no compression memory;
- messages under :data:`MIN_PAYLOAD_BYTES`, or that would not shrink, go out
  uncompressed (RSV1 clear), which the extension allows message by message.

Control frames are never compressed.  Decompressing what clients send stays aiohttp's.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import Any

from aiohttp import hdrs, web

MIN_PAYLOAD_BYTES = 128
RECENT_FRAMES = 256  # compressed frames remembered, by the identity of their original
LEVEL = 6  # zlib's default
MEM_LEVEL = 8
FIN, RSV1 = 0x80, 0x40
DATA_OPCODES = (0x1, 0x2)  # text, binary
SYNC_TAIL = b"\x00\x00\xff\xff"  # removed from each message (RFC 7692 section 7.2.1)
NO_CONTEXT_TAKEOVER = "server_no_context_takeover"


class Deflater:
    """Compresses complete unmasked server frames for one window size.

    Remembers the last :data:`RECENT_FRAMES` frames it compressed, by identity: a
    fan-out hands the same frame object to every socket, and a reconnect storm
    replays the same history entries to many sockets.
    """

    __slots__ = ("_compressor", "_recent", "compressed", "wbits")

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self._compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -wbits, MEM_LEVEL)
        # id(frame) -> (frame, what goes out); the frame is held so its id stays its own.
        self._recent: OrderedDict[int, tuple[bytes, bytes]] = OrderedDict()
        self.compressed = 0  # messages compressed (not counting frames remembered)

    def __call__(self, frame: bytes) -> bytes:
        """The frame as it goes out on a deflate socket: compressed, or unchanged."""
        recent = self._recent.get(id(frame))
        if recent is not None and recent[0] is frame:
            return recent[1]
        deflated = self._deflate(frame)
        if deflated is not frame:
            self._recent[id(frame)] = (frame, deflated)
            if len(self._recent) > RECENT_FRAMES:
                self._recent.popitem(last=False)
        return deflated

    def _deflate(self, frame: bytes) -> bytes:
        first = frame[0]
        if not first & FIN or first & RSV1 or first & 0x0F not in DATA_OPCODES:
            return frame
        offset = _payload_offset(frame[1] & 0x7F)
        payload = memoryview(frame)[offset:]
        if len(payload) < MIN_PAYLOAD_BYTES:
            return frame
        compressor = self._compressor
        # A full flush resets the compressor: the next message refers to nothing here.
        body = compressor.compress(payload) + compressor.flush(zlib.Z_FULL_FLUSH)
        if body.endswith(SYNC_TAIL):
            body = body[: -len(SYNC_TAIL)]
        if len(body) >= len(payload):
            return frame
        self.compressed += 1
        return _header(first | RSV1, len(body)) + body


def _payload_offset(length_code: int) -> int:
    return 2 if length_code < 126 else 4 if length_code == 126 else 10


def _header(first: int, length: int) -> bytes:
    if length < 126:
        return bytes((first, length))
    if length < 1 << 16:
        return bytes((first, 126)) + length.to_bytes(2, "big")
    return bytes((first, 127)) + length.to_bytes(8, "big")


_deflaters: dict[int, Deflater] = {}


def for_socket(ws: web.WebSocketResponse) -> Deflater | None:
    """The shared deflater for a socket that negotiated permessage-deflate, else None."""
    wbits = ws.compress
    if not wbits:
        return None
    wbits = int(wbits)
    deflater = _deflaters.get(wbits)
    if deflater is None:
        deflater = _deflaters[wbits] = Deflater(wbits)
    return deflater


async def advertise_no_context_takeover(
    _request: web.Request, response: web.StreamResponse
) -> None:
    """``on_response_prepare``: a 101 accepting permessage-deflate says the server
    keeps no context between messages (RFC 7692 section 7.1.1.1 lets it, offered or
    not), so clients may drop their window after each message."""
    if response.status != 101:
        return
    extension = response.headers.get(hdrs.SEC_WEBSOCKET_EXTENSIONS)
    if extension and NO_CONTEXT_TAKEOVER not in extension:
        response.headers[hdrs.SEC_WEBSOCKET_EXTENSIONS] = (
            f"{extension}; {NO_CONTEXT_TAKEOVER}"
        )


def install(app: web.Application, enabled: bool) -> None:
    """With ``--compress``: answer upgrades with ``server_no_context_takeover``."""
    if enabled:
        app.on_response_prepare.append(advertise_no_context_takeover)


def shared_deflaters() -> dict[int, Any]:
    """The process's deflaters by window size (for tests and diagnostics)."""
    return dict(_deflaters)
