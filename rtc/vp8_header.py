"""What a VP8 key frame says about its picture (RFC 6386 9.1 and 9.2): size, scaling, and the
two colour bits at the start of the first partition.

VP8's whole colour description is `color_space` (0: YUV "similar to ITU-R BT.601", the only
value defined; 1 is reserved) and `clamping_type` (0: the decoder clamps reconstructed
values to 0..255). There is no range, primaries or transfer field.
"""

from __future__ import annotations

from dataclasses import dataclass

_START_CODE = b"\x9d\x01\x2a"
_KEY_FRAME_HEADER = 10  # 3-byte frame tag, start code, 2 x (14-bit size, 2-bit scale)


class Vp8HeaderError(ValueError):
    """Not a complete VP8 key frame header."""


@dataclass(frozen=True, slots=True)
class Vp8KeyFrame:
    width: int
    height: int
    horizontal_scale: int
    vertical_scale: int
    color_space: int
    clamping_type: int


def is_key_frame(frame: bytes) -> bool:
    return len(frame) >= 3 and frame[0] & 1 == 0


def parse_key_frame(frame: bytes) -> Vp8KeyFrame:
    """Parse the header of a VP8 key frame (a whole encoded frame, as libvpx outputs it)."""
    if not is_key_frame(frame) or len(frame) < _KEY_FRAME_HEADER + 2:
        raise Vp8HeaderError("not a VP8 key frame")
    if frame[3:6] != _START_CODE:
        raise Vp8HeaderError("VP8 key frame without its start code")
    size_w = int.from_bytes(frame[6:8], "little")
    size_h = int.from_bytes(frame[8:10], "little")
    decoder = _BoolDecoder(frame[_KEY_FRAME_HEADER:])
    color_space = decoder.literal_bit()
    clamping_type = decoder.literal_bit()
    return Vp8KeyFrame(size_w & 0x3FFF, size_h & 0x3FFF, size_w >> 14, size_h >> 14,
                       color_space, clamping_type)


class _BoolDecoder:
    """RFC 6386 section 7.3's boolean decoder, enough for the first header bits."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._value = int.from_bytes(data[:2], "big")
        self._pos = 2
        self._range = 255
        self._bit_count = 0

    def literal_bit(self) -> int:
        return self.decode(128)

    def decode(self, probability: int) -> int:
        split = 1 + (((self._range - 1) * probability) >> 8)
        big_split = split << 8
        if self._value >= big_split:
            bit = 1
            self._range -= split
            self._value -= big_split
        else:
            bit = 0
            self._range = split
        while self._range < 128:
            self._value <<= 1
            self._range <<= 1
            self._bit_count += 1
            if self._bit_count == 8:
                self._bit_count = 0
                if self._pos < len(self._data):
                    self._value |= self._data[self._pos]
                self._pos += 1
        return bit
