"""What an H.264 sequence parameter set says: profile, constraints, level, picture size and
the VUI's colour description (ITU-T H.264 7.3.2.1.1 and E.1.1).

`find_sps(data)` takes Annex B bytes (what libx264 and aiortc's depacketiser produce, start
codes 00 00 01 / 00 00 00 01) and returns the first SPS parsed, or None when there is none.
The parser reads exactly the syntax up to the VUI's video signal type, unescaping the
emulation-prevention bytes first; a truncated or malformed SPS raises SpsError.
"""

from __future__ import annotations

from dataclasses import dataclass

NAL_SPS = 7
# profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling lists.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_EXTENDED_SAR = 255


class SpsError(ValueError):
    """The bytes are not a complete, well-formed SPS."""


@dataclass(frozen=True, slots=True)
class SequenceParameterSet:
    profile_idc: int
    constraint_flags: int  # the byte after profile_idc: constraint_set0_flag is its top bit
    level_idc: int
    width: int  # after the frame cropping
    height: int
    chroma_format_idc: int
    vui_present: bool
    video_signal_type_present: bool  # False: range and colour description unstated
    video_full_range: bool
    colour_description_present: bool
    colour_primaries: int  # 2 (unspecified) when not present
    transfer_characteristics: int
    matrix_coefficients: int

    @property
    def profile_level_id(self) -> str:
        """As SDP writes it (RFC 6184): profile_idc, constraint byte, level_idc in hex."""
        return f"{self.profile_idc:02x}{self.constraint_flags:02x}{self.level_idc:02x}"


class _Bits:
    def __init__(self, rbsp: bytes) -> None:
        self._data = rbsp
        self._pos = 0

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte_index = self._pos >> 3
            if byte_index >= len(self._data):
                raise SpsError("SPS ends early")
            value = (value << 1) | ((self._data[byte_index] >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise SpsError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (without their start codes)."""
    units: list[bytes] = []
    starts = []
    index = data.find(b"\x00\x00\x01")
    while index >= 0:
        starts.append(index + 3)
        index = data.find(b"\x00\x00\x01", index + 3)
    for number, start in enumerate(starts):
        end = starts[number + 1] - 3 if number + 1 < len(starts) else len(data)
        unit = data[start:end]
        while unit.endswith(b"\x00"):  # the leading zero of the next 4-byte start code
            unit = unit[:-1]
        if unit:
            units.append(unit)
    return units


def unescape(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def find_sps(data: bytes) -> SequenceParameterSet | None:
    for unit in nal_units(data):
        if unit[0] & 0x1F == NAL_SPS:
            return parse_sps(unit)
    return None


def parse_sps(nal: bytes) -> SequenceParameterSet:
    """Parse one SPS NAL unit (its header byte included)."""
    if not nal or nal[0] & 0x1F != NAL_SPS:
        raise SpsError("not an SPS NAL unit")
    bits = _Bits(unescape(nal[1:]))
    profile_idc, constraint_flags, level_idc = bits.u(8), bits.u(8), bits.u(8)
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    if profile_idc in _HIGH_PROFILES:
        chroma_format_idc = bits.ue()
        if chroma_format_idc == 3:
            bits.u(1)  # separate_colour_plane_flag
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format_idc != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    pic_order_cnt_type = bits.ue()
    if pic_order_cnt_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif pic_order_cnt_type == 1:
        bits.u(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_map_units = bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    crop = (0, 0, 0, 0)
    if bits.u(1):  # frame_cropping_flag
        crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue())
    sub_width = 2 if chroma_format_idc in (1, 2) else 1
    sub_height = 2 if chroma_format_idc == 1 else 1
    crop_x = sub_width if chroma_format_idc else 1
    crop_y = (sub_height if chroma_format_idc else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = height_map_units * 16 * (2 - frame_mbs_only) - crop_y * (crop[2] + crop[3])

    signal_present = full_range = colour_present = False
    primaries = transfer = matrix = 2  # unspecified
    vui_present = bool(bits.u(1))
    if vui_present:
        if bits.u(1):  # aspect_ratio_info_present_flag
            if bits.u(8) == _EXTENDED_SAR:
                bits.u(16)
                bits.u(16)
        if bits.u(1):  # overscan_info_present_flag
            bits.u(1)
        signal_present = bool(bits.u(1))
        if signal_present:
            bits.u(3)  # video_format
            full_range = bool(bits.u(1))
            colour_present = bool(bits.u(1))
            if colour_present:
                primaries, transfer, matrix = bits.u(8), bits.u(8), bits.u(8)
    return SequenceParameterSet(
        profile_idc, constraint_flags, level_idc, width, height, chroma_format_idc,
        vui_present, signal_present, full_range, colour_present, primaries, transfer, matrix,
    )


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last, next_scale = 8, 8
    for _ in range(size):
        if next_scale:
            next_scale = (last + bits.se() + 256) % 256
        last = next_scale or last
