"""What can be told of an encoded video frame (as aiortc's depayloaders reassemble it)
without decoding it: whether it is a keyframe. Used by the terminals' frame counter and by
the MCU's content forwarding (a forwarded stream must start at a keyframe)."""

from __future__ import annotations

_H264_START_CODE = b"\x00\x00\x01"  # the 4-byte form ends with it too
_H264_IDR = 5
_H264_NON_IDR = 1


def is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether a reassembled frame (as aiortc's depayloaders give it) is a keyframe."""
    if codec_name == "VP8":
        return bool(data) and data[0] & 0x01 == 0  # RFC 6386 9.1: P bit 0 = key frame
    if codec_name == "H264":
        # Annex B (as aiortc's depayloader and x264 write it): the first slice's NAL type
        # decides (IDR = 5); SPS, PPS and SEI before it are skipped.
        position = data.find(_H264_START_CODE)
        while 0 <= position < len(data) - 3:
            nal_type = data[position + 3] & 0x1F
            if nal_type == _H264_IDR:
                return True
            if nal_type == _H264_NON_IDR:
                return False
            position = data.find(_H264_START_CODE, position + 3)
    return False
