"""The H.264 sequence parameter set (ITU-T H.264 7.3.2.1.1, VUI E.1.1) of a bitstream.

`parse_sps(nal)` reads one SPS NAL unit (with or without its header byte, emulation
prevention bytes still in); `find_sps(stream)` finds the first SPS of an Annex B byte
stream (start codes, as libx264 writes packets and aiortc's depayloader returns frames) and
parses it. The result holds the profile, the constraint flags, the level, the cropped
picture size and the VUI's video signal type (range and colour description) when present:
what a receiver checks against the SDP's profile-level-id and what it needs to show colours
right.
"""

from __future__ import annotations

from dataclasses import dataclass

NAL_SPS = 7

# Profiles whose SPS carries chroma_format_idc, bit depths and scaling matrices (7.3.2.1.1).
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
# chroma_format_idc -> (SubWidthC, SubHeightC), Table 6-1; 4:0:0 crops in luma samples.
_CHROMA_SUBSAMPLING = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}
_EXTENDED_SAR = 255


class SpsError(ValueError):
    """Not an SPS, or one that ends before its fields do."""


@dataclass(frozen=True)
class VideoSignal:
    """The VUI's video_signal_type (E.2.1); the colour description is None when absent."""

    video_format: int
    full_range: bool
    colour_primaries: int | None = None
    transfer_characteristics: int | None = None
    matrix_coefficients: int | None = None


@dataclass(frozen=True)
class Sps:
    profile_idc: int
    constraint_flags: int  # constraint_set0..5 as the byte's top six bits (0x80 = set0)
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    width: int  # after frame cropping
    height: int
    frame_mbs_only: bool
    video_signal: VideoSignal | None  # None without VUI or without video_signal_type

    @property
    def profile_level_id(self) -> str:
        """The three bytes as RFC 6184's profile-level-id writes them ("42c01f")."""
        return f"{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


class _Bits:
    """A reader of an RBSP: bits MSB first, exp-Golomb codes (9.1)."""

    def __init__(self, rbsp: bytes) -> None:
        self._data = rbsp
        self._pos = 0

    def bit(self) -> int:
        byte = self._pos >> 3
        if byte >= len(self._data):
            raise SpsError("SPS ends too early")
        value = (self._data[byte] >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def flag(self) -> bool:
        return self.bit() == 1

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise SpsError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def unescape(nal: bytes) -> bytes:
    """The RBSP of a NAL unit: every emulation prevention byte (00 00 03) removed."""
    out = bytearray()
    zeros = 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def nal_units(stream: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    units: list[bytes] = []
    starts: list[int] = []
    index = stream.find(b"\x00\x00\x01")
    while index != -1:
        starts.append(index + 3)
        index = stream.find(b"\x00\x00\x01", index + 3)
    for number, start in enumerate(starts):
        end = starts[number + 1] - 3 if number + 1 < len(starts) else len(stream)
        units.append(stream[start:end].rstrip(b"\x00") if number + 1 < len(starts)
                     else stream[start:end])
    return units


def find_sps(stream: bytes) -> Sps | None:
    """The first SPS of an Annex B stream, parsed; None when it has none."""
    for unit in nal_units(stream):
        if unit and unit[0] & 0x1F == NAL_SPS:
            return parse_sps(unit)
    return None


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, next_scale = 8, 8
    for _ in range(size):
        if next_scale != 0:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale if next_scale != 0 else last


def _video_signal(bits: _Bits) -> VideoSignal | None:
    """The VUI up to its video_signal_type (E.1.1); None when that is absent."""
    if bits.flag():  # aspect_ratio_info_present_flag
        if bits.bits(8) == _EXTENDED_SAR:
            bits.bits(32)  # sar_width, sar_height
    if bits.flag():  # overscan_info_present_flag
        bits.bit()
    if not bits.flag():  # video_signal_type_present_flag
        return None
    video_format = bits.bits(3)
    full_range = bits.flag()
    if not bits.flag():  # colour_description_present_flag
        return VideoSignal(video_format, full_range)
    return VideoSignal(video_format, full_range, bits.bits(8), bits.bits(8), bits.bits(8))


def parse_sps(nal: bytes) -> Sps:
    """Parse one SPS NAL unit (its header byte first, or the RBSP alone)."""
    if nal and nal[0] & 0x9F == NAL_SPS:  # forbidden bit 0, any nal_ref_idc, type 7
        nal = nal[1:]
    bits = _Bits(unescape(nal))
    profile_idc, constraint_flags, level_idc = bits.bits(8), bits.bits(8), bits.bits(8)
    sps_id = bits.ue()
    chroma_format_idc = 1
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc not in _CHROMA_SUBSAMPLING:
            raise SpsError(f"chroma_format_idc {chroma_format_idc}")
        if chroma_format_idc == 3:
            bits.bit()  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.bit()  # qpprime_y_zero_transform_bypass_flag
        if bits.flag():  # seq_scaling_matrix_present_flag
            for index in range(12 if chroma_format_idc == 3 else 8):
                if bits.flag():
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.bit()  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):
            bits.se()  # offset_for_ref_frame
    bits.ue()  # max_num_ref_frames
    bits.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.flag()
    if not frame_mbs_only:
        bits.bit()  # mb_adaptive_frame_field_flag
    bits.bit()  # direct_8x8_inference_flag
    width, height = width_mbs * 16, height_map_units * 16 * (1 if frame_mbs_only else 2)
    if bits.flag():  # frame_cropping_flag
        sub_width, sub_height = _CHROMA_SUBSAMPLING[chroma_format_idc]
        crop_x, crop_y = sub_width, sub_height * (1 if frame_mbs_only else 2)
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        width -= crop_x * (left + right)
        height -= crop_y * (top + bottom)
    video_signal = _video_signal(bits) if bits.flag() else None  # vui_parameters_present_flag
    return Sps(profile_idc, constraint_flags, level_idc, sps_id, chroma_format_idc, width,
               height, frame_mbs_only, video_signal)
