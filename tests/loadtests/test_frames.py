"""FrameReader: bytes in any split, whole messages out; framing errors named."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from wsharness.loadclient.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameError,
    FrameReader,
)


def server_frame(
    opcode: Opcode, payload: bytes, fin: bool = True, mask: bool = False
) -> bytes:
    """Serialised by websockets, the reference implementation."""
    return Frame(opcode, payload, fin=fin).serialize(mask=mask)


def test_every_frame_of_one_read_comes_out_in_order() -> None:
    data = b"".join(server_frame(Opcode.TEXT, f"m{i}".encode()) for i in range(5))
    assert FrameReader().feed(data) == [(OP_TEXT, f"m{i}".encode()) for i in range(5)]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_each_length_encoding_split_at_every_kind_of_boundary(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    data = server_frame(Opcode.BINARY, payload) + server_frame(Opcode.TEXT, b"next")
    for cut in (1, 2, 3, 9, 11, len(data) - 5):
        reader = FrameReader()
        first = reader.feed(data[:cut])
        second = reader.feed(data[cut:])
        assert first + second == [(OP_BINARY, payload), (OP_TEXT, b"next")]
        assert reader.pending_bytes == 0


def test_fragments_are_joined_and_control_frames_pass_between_them() -> None:
    data = (
        server_frame(Opcode.TEXT, b"hel", fin=False)
        + server_frame(Opcode.PING, b"p")
        + server_frame(Opcode.CONT, b"lo ", fin=False)
        + server_frame(Opcode.CONT, b"world")
    )
    reader = FrameReader()
    assert reader.feed(data[:7]) == []  # the first fragment alone is no message
    assert reader.feed(data[7:]) == [(OP_PING, b"p"), (OP_TEXT, b"hello world")]


def test_a_masked_frame_is_unmasked() -> None:
    data = server_frame(Opcode.TEXT, b"masked payload", mask=True)
    assert FrameReader().feed(data) == [(OP_TEXT, b"masked payload")]


def test_a_close_frame_keeps_its_payload() -> None:
    data = Frame(Opcode.CLOSE, (4001).to_bytes(2, "big") + b"expired").serialize(mask=False)
    assert FrameReader().feed(data) == [(OP_CLOSE, b"\x0f\xa1expired")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (bytes([0x80, 0x00]), 1002),  # a continuation with nothing to continue
        (bytes([0xC1, 0x00]), 1002),  # RSV1 without a negotiated extension
        (bytes([0x83, 0x00]), 1002),  # reserved opcode
        (bytes([0x81, 0x7F]) + (2**40).to_bytes(8, "big"), 1009),  # absurd length
        (server_frame(Opcode.TEXT, b"a", fin=False) * 2, 1002),  # new message mid-way
    ],
)
def test_framing_errors_carry_the_close_code(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as raised:
        FrameReader().feed(data)
    assert raised.value.close_code == code
