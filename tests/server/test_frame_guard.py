"""The mask check follows frame boundaries in a byte stream, however it is split."""

from __future__ import annotations

from websockets.frames import Frame, Opcode

from wsharness.server.frame_guard import MaskCheck


def stream(*frames: Frame, mask: bool = True) -> bytes:
    return b"".join(frame.serialize(mask=mask) for frame in frames)


FRAMES = (
    Frame(Opcode.TEXT, b"x" * 5),
    Frame(Opcode.PING, b""),
    Frame(Opcode.TEXT, b"y" * 300),  # 16-bit length
    Frame(Opcode.BINARY, b"z" * 70_000),  # 64-bit length
    Frame(Opcode.TEXT, b"end"),
)


def test_masked_frames_pass_whatever_the_read_boundaries() -> None:
    data = stream(*FRAMES)
    for size in (1, 2, 3, 7, 1000, len(data)):
        check = MaskCheck(parser=None, queue=None)
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert all(check.all_masked(chunk) for chunk in chunks), size


def test_an_unmasked_frame_is_caught_after_masked_ones() -> None:
    data = stream(*FRAMES) + stream(Frame(Opcode.TEXT, b"bad"), mask=False)
    for size in (1, 5, len(data)):
        check = MaskCheck(parser=None, queue=None)
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert not all(check.all_masked(chunk) for chunk in chunks), size
