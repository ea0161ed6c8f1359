"""RTP payload formats (rtp/payloads/) and the PyAV encoders behind them (rtp/codecs.py):
large frames cut within the payload limit the way each RFC says, and put back together
into exactly the bitstream the encoder produced; each encoder at the formats it must do."""

from __future__ import annotations

import av
import numpy as np
import pytest

from rtp.codecs import (
    CODECS,
    Negotiated,
    UnsupportedFormat,
    VideoDecoder,
    VideoEncoder,
    depacketizer,
    offered_sizes,
    packetizer,
)
from rtp.payloads import MAX_PAYLOAD, PayloadError
from rtp.payloads.bits import BitRun, cut_runs, join_runs
from rtp.payloads.h263 import H263Depacketizer
from rtp.payloads.h264 import nal_units
from rtp.payloads.vp9 import Vp9Depacketizer, descriptor_length
from terminals.marker import MarkerPainter, read_marker


def _picture(width: int, height: int, site: int = 7, grain: float = 60.0) -> av.VideoFrame:
    rng = np.random.default_rng(1)
    bgr = np.clip(128 + rng.normal(0, grain, (height, width, 3)), 0, 255).astype(np.uint8)
    MarkerPainter(width, height).draw(bgr, site, 1)
    return av.VideoFrame.from_ndarray(bgr, format="bgr24")


def _codec(name: str, **fmtp: str) -> Negotiated:
    return Negotiated(CODECS[name.upper()], 96, dict(fmtp))


CASES = {
    "H261": (_codec("H261"), (352, 288)),
    "H263": (_codec("H263"), (704, 576)),
    "H263-1998": (_codec("H263-1998"), (640, 480)),
    "H264-0": (_codec("H264", **{"packetization-mode": "0", "profile-level-id": "42e01f"}), (1280, 720)),
    "H264-1": (_codec("H264", **{"packetization-mode": "1", "profile-level-id": "640028"}), (1280, 720)),
    "VP8": (_codec("VP8"), (1280, 720)),
    "VP9": (_codec("VP9"), (1280, 720)),
}


@pytest.mark.parametrize("case", CASES)
def test_a_large_keyframe_is_cut_within_the_limit_and_rebuilt_exactly(case: str) -> None:
    codec, (width, height) = CASES[case]
    encoder = VideoEncoder(codec, width, height, bitrate=8_000_000)
    encoded = encoder.encode(_picture(width, height), keyframe=True)
    assert len(encoded) == 1 and encoded[0].keyframe
    frame = encoded[0]
    payloads = packetizer(codec).packetize(frame.data, True, frame.side_data)
    assert len(payloads) > 5 and max(map(len, payloads)) <= MAX_PAYLOAD
    rebuilt = depacketizer(codec).depacketize(payloads)
    if codec.name == "H264":  # the same NAL units (start codes are all 4-byte after RTP)
        assert nal_units(rebuilt) == nal_units(frame.data)
    else:  # the same bits (H.261/H.263: up to the zero bits that pad the last byte)
        assert rebuilt[: len(frame.data)] == frame.data and not rebuilt[len(frame.data):].strip(b"\0")
    pictures = VideoDecoder(codec).decode(rebuilt)
    assert pictures and read_marker(pictures[0]).site_index == 7


def test_h263_cuts_long_gobs_at_macroblocks_in_mode_b() -> None:
    codec, (width, height) = CASES["H263"]
    frame = VideoEncoder(codec, width, height, bitrate=8_000_000).encode(_picture(width, height), True)[0]
    assert frame.side_data  # the encoder's macroblock info
    payloads = packetizer(codec).packetize(frame.data, True, frame.side_data)
    modes = {"A" if not p[0] & 0x80 else "B" for p in payloads}
    assert modes == {"A", "B"}
    source_format = {(int.from_bytes(p[:4], "big") >> 21) & 7 for p in payloads}
    assert source_format == {4}  # 4CIF in every header


def test_h264_mode_0_sends_single_nal_units_only() -> None:
    codec, (width, height) = CASES["H264-0"]
    frame = VideoEncoder(codec, width, height, bitrate=8_000_000).encode(_picture(width, height), True)[0]
    payloads = packetizer(codec).packetize(frame.data, True)
    assert {p[0] & 0x1F for p in payloads} <= set(range(1, 24))  # no STAP-A (24) / FU-A (28)
    with pytest.raises(PayloadError):
        depacketizer(codec).depacketize([bytes([0x7C, 0x85]) + b"x"])  # FU-A in mode 0


def test_bit_runs_keep_every_bit_across_unaligned_cuts() -> None:
    data = bytes(range(256)) * 8
    runs = cut_runs(data, [13, 700, 3001, 9000, 15999], 300)
    assert all(len(run.data) <= 300 for _, run in runs)
    assert join_runs([run for _, run in runs]) == data
    assert join_runs([BitRun(b"\xff\x0f", 4, 4)]) == b"\xf0"


@pytest.mark.parametrize("payload", [b"", b"\x80\x00"])
def test_truncated_payloads_are_refused(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        H263Depacketizer().depacketize([payload])
    with pytest.raises(PayloadError):
        Vp9Depacketizer().depacketize([payload[:1]] if payload else [b""])


def test_vp9_descriptor_with_scalability_structure() -> None:
    # I (7-bit id), B, E, V: SS with one spatial layer and its size, no picture group
    payload = bytes([0x80 | 0x08 | 0x04 | 0x02, 0x05, 0x10]) + (640).to_bytes(2, "big") + (360).to_bytes(2, "big") + b"vp9"
    assert payload[descriptor_length(payload):] == b"vp9"


@pytest.mark.parametrize(("name", "sizes"), [
    ("H261", [(176, 144), (352, 288)]),
    ("H263", [(128, 96), (176, 144), (352, 288), (704, 576), (1408, 1152)]),
])
def test_fixed_format_encoders_do_each_of_their_formats(name: str, sizes: list[tuple[int, int]]) -> None:
    for width, height in sizes:
        codec = _codec(name)
        frames = VideoEncoder(codec, width, height).encode(_picture(width, height, grain=5), True)
        pictures = VideoDecoder(codec).decode(frames[0].data)
        assert (pictures[0].width, pictures[0].height) == (width, height)


@pytest.mark.parametrize(("name", "size"), [("H261", (704, 576)), ("H261", (640, 480)),
                                            ("H263", (640, 480)), ("H263-1998", (642, 480))])
def test_a_format_the_codec_cannot_carry_is_refused(name: str, size: tuple[int, int]) -> None:
    with pytest.raises(UnsupportedFormat):
        VideoEncoder(_codec(name), *size)


@pytest.mark.parametrize(("pli", "profile_idc"), [("42e01f", 66), ("4d0028", 77), ("640028", 100)])
def test_h264_profile_level_id_is_honoured(pli: str, profile_idc: int) -> None:
    codec = _codec("H264", **{"profile-level-id": pli, "packetization-mode": "1"})
    frame = VideoEncoder(codec, 640, 360).encode(_picture(640, 360, grain=5), True)[0]
    sps = next(n for n in frame.data.split(b"\0\0\1") if n and n[0] & 0x1F == 7)
    assert sps[1] == profile_idc
    assert sps[3] == int(pli[4:], 16)  # level_idc


@pytest.mark.parametrize(("name", "fmtp", "sizes"), [
    ("H261", {"QCIF": "1"}, [(176, 144)]),
    ("H261", {}, [(352, 288), (176, 144)]),
    ("H263", {"CIF4": "2", "QCIF": "1", "CIF16": "4"}, [(1408, 1152), (704, 576), (176, 144)]),
    ("H263", {}, [(176, 144)]),
    ("H263-1998", {"CIF": "1", "QCIF": "1"}, [(352, 288), (176, 144)]),
    # as the SDP parser gives them: fmtp names lowercased
    ("H263", {"cif4": "1", "cif": "1"}, [(704, 576), (352, 288)]),
    ("VP8", {}, []),
])
def test_the_sizes_a_receivers_fmtp_allows(name: str, fmtp: dict[str, str], sizes: list) -> None:
    assert offered_sizes(_codec(name, **fmtp)) == sizes
