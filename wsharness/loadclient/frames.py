"""RFC 6455 frames as a client reads them: bytes in, whole messages out, no I/O.

The load client reads whatever a socket holds in one call and hands it to
:meth:`FrameReader.feed`, which returns every complete message in it (text and binary
messages with their fragments joined, control frames as they come) and keeps the
incomplete tail for the next call.  It is written for the fan-out case, where most
reads hold one or a few small unmasked frames: one pass over the bytes, lengths read
with ``struct``, payloads sliced once.  (``websockets``' sans-I/O parser reads each
frame through a generator and a stream buffer; for this job that costs several times
more per frame.)
"""

from __future__ import annotations

import struct

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_MESSAGE_BYTES = 16 * 2**20
"""Largest message the reader assembles (a bigger one is a :class:`FrameError`)."""

_LENGTH_16 = struct.Struct("!H")
_LENGTH_64 = struct.Struct("!Q")
_EMPTY = b""
_CONTROL = frozenset((OP_CLOSE, OP_PING, OP_PONG))


class FrameError(ValueError):
    """The peer broke RFC 6455 framing; ``close_code`` is the code to close with."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking ``key`` (RFC 6455 section 5.3)."""
    size = len(payload)
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(
        size, "big"
    )


def _single_text(data: bytes) -> bytes | None:
    """The payload when ``data`` is exactly one unmasked final text frame."""
    length = data[1] if len(data) > 1 else 0xFF
    if length < 126:
        return data[2:] if len(data) == length + 2 else None
    if length == 126 and len(data) >= 4 and len(data) == (data[2] << 8 | data[3]) + 4:
        return data[4:]
    return None


class FrameReader:
    """Incremental reader of one connection's incoming frames."""

    __slots__ = ("_fragment_opcode", "_fragments", "_tail")

    def __init__(self) -> None:
        self._tail = _EMPTY
        self._fragments: list[bytes] | None = None
        self._fragment_opcode = OP_TEXT

    @property
    def pending_bytes(self) -> int:
        """Bytes held back: an incomplete frame, and fragments of an unfinished message."""
        held = sum(map(len, self._fragments)) if self._fragments else 0
        return len(self._tail) + held

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Every complete message in what has arrived, as ``(opcode, payload)``."""
        if data[:1] == b"\x81" and not self._tail and self._fragments is None:
            single = _single_text(data)  # the common case: one whole text frame
            if single is not None:
                return [(OP_TEXT, single)]
        if self._tail:
            data = self._tail + data
            self._tail = _EMPTY
        messages: list[tuple[int, bytes]] = []
        end = len(data)
        position = 0
        while end - position >= 2:
            first = data[position]
            second = data[position + 1]
            size = second & 0x7F
            start = position + 2
            if size == 126:
                if end - position < 4:
                    break
                (size,) = _LENGTH_16.unpack_from(data, start)
                start += 2
            elif size == 127:
                if end - position < 10:
                    break
                (size,) = _LENGTH_64.unpack_from(data, start)
                start += 8
                if size > MAX_MESSAGE_BYTES:
                    raise FrameError(1009, f"frame of {size} bytes")
            key = None
            if second & 0x80:  # a server must not mask; read it anyway
                if end - start < 4:
                    break
                key = data[start : start + 4]
                start += 4
            stop = start + size
            if stop > end:
                break
            payload = data[start:stop] if key is None else unmask(data[start:stop], key)
            position = stop
            if first & 0x70:
                raise FrameError(1002, "reserved bits set without an extension")
            opcode = first & 0x0F
            if first & 0x80 and opcode == OP_TEXT and self._fragments is None:
                messages.append((OP_TEXT, payload))  # the common case, first
            elif opcode in _CONTROL:
                messages.append((opcode, payload))
            else:
                self._fragment(first & 0x80, opcode, payload, messages)
        if position < end:
            self._tail = data[position:] if position else data
            if len(self._tail) > MAX_MESSAGE_BYTES + 14:
                raise FrameError(1009, "message too big")
        return messages

    def _fragment(
        self, fin: int, opcode: int, payload: bytes, messages: list[tuple[int, bytes]]
    ) -> None:
        """A data frame that starts, continues or ends a fragmented message."""
        if opcode == OP_CONTINUATION:
            if self._fragments is None:
                raise FrameError(1002, "continuation frame without a message")
            self._fragments.append(payload)
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                raise FrameError(1002, "new message inside a fragmented one")
            if fin:
                messages.append((opcode, payload))
                return
            self._fragments = [payload]
            self._fragment_opcode = opcode
        else:
            raise FrameError(1002, f"unknown opcode {opcode:#x}")
        if sum(map(len, self._fragments)) > MAX_MESSAGE_BYTES:
            raise FrameError(1009, "message too big")
        if fin:
            messages.append((self._fragment_opcode, _EMPTY.join(self._fragments)))
            self._fragments = None
