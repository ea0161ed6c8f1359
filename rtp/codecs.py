"""The codecs a SIP room system may negotiate with us: their SDP names and RTP clocks, their
payload formats, and their PyAV encoders and decoders (one per negotiated stream).

Video formats each encoder must accept: H.261 only QCIF and CIF (H.261 annex D aside),
H.263 (1996) only sub-QCIF, QCIF, CIF, 4CIF and 16CIF; H.263+ any size multiple of 4; H.264,
VP8 and VP9 any even size. A size a codec cannot carry raises UnsupportedFormat, never a
silently rescaled stream."""

from __future__ import annotations

import fractions
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import av.video.frame

from rtp.payloads import Depacketizer, Packetizer
from rtp.payloads.audio import AudioDepacketizer, AudioPacketizer
from rtp.payloads.h261 import H261Depacketizer, H261Packetizer
from rtp.payloads.h263 import H263Depacketizer, H263Packetizer
from rtp.payloads.h263p import H263PlusDepacketizer, H263PlusPacketizer
from rtp.payloads.h264 import H264Depacketizer, H264Packetizer
from rtp.payloads.vp8 import Vp8Depacketizer, Vp8Packetizer
from rtp.payloads.vp9 import Vp9Depacketizer, Vp9Packetizer

VIDEO_CLOCK = 90000
AUDIO_PTIME_MS = 20


@dataclass(frozen=True, slots=True)
class CodecSpec:
    name: str  # the SDP encoding name (compared case-insensitively)
    kind: str  # "audio" or "video"
    clock_rate: int
    channels: int = 1
    static_pt: int | None = None
    encoder: str = ""  # PyAV codec names
    decoder: str = ""
    sample_rate: int = 0  # audio: the codec's own sampling rate (G.722: 16000 at an 8000 clock)


CODECS: dict[str, CodecSpec] = {
    c.name.upper(): c
    for c in (
        CodecSpec("H261", "video", VIDEO_CLOCK, static_pt=31, encoder="h261", decoder="h261"),
        CodecSpec("H263", "video", VIDEO_CLOCK, static_pt=34, encoder="h263", decoder="h263"),
        CodecSpec("H263-1998", "video", VIDEO_CLOCK, encoder="h263p", decoder="h263"),
        CodecSpec("H264", "video", VIDEO_CLOCK, encoder="libx264", decoder="h264"),
        CodecSpec("VP8", "video", VIDEO_CLOCK, encoder="libvpx", decoder="vp8"),
        CodecSpec("VP9", "video", VIDEO_CLOCK, encoder="libvpx-vp9", decoder="vp9"),
        CodecSpec("PCMU", "audio", 8000, 1, 0, "pcm_mulaw", "pcm_mulaw", 8000),
        CodecSpec("PCMA", "audio", 8000, 1, 8, "pcm_alaw", "pcm_alaw", 8000),
        CodecSpec("G722", "audio", 8000, 1, 9, "g722", "g722", 16000),
        CodecSpec("opus", "audio", 48000, 2, None, "libopus", "libopus", 48000),
        CodecSpec("telephone-event", "audio", 8000),
    )
}

# The standard's codecs no library available to us implements (docs/sip_media.md).
IMPOSSIBLE = {
    "G728": "G.728 (LD-CELP): no encoder or decoder in FFmpeg/PyAV",
    "G729": "G.729A: FFmpeg decodes G.729 but has no encoder",
    "G719": "G.719: no encoder or decoder in FFmpeg/PyAV",
    "G7221": "G.722.1/G.722.1C (Siren): FFmpeg has no encoder",
    "MP4A-LATM": "AAC-LD: FFmpeg's AAC encoder has no low-delay profile",
    "H264-SVC": "H.264 SVC: no scalable encoder or decoder in FFmpeg/PyAV",
}

SUB_QCIF, QCIF, CIF, CIF4, CIF16 = (128, 96), (176, 144), (352, 288), (704, 576), (1408, 1152)
FIXED_SIZES = {"H261": (QCIF, CIF), "H263": (SUB_QCIF, QCIF, CIF, CIF4, CIF16)}

# profile_idc of RFC 6184 profile-level-id -> libx264's profile name
H264_PROFILES = {0x42: "baseline", 0x4D: "main", 0x64: "high"}


class UnsupportedFormat(ValueError):
    """A picture size or parameter the negotiated codec cannot carry."""


@dataclass(frozen=True, slots=True)
class Negotiated:
    """One codec as an SDP answer settled it."""

    spec: CodecSpec
    payload_type: int
    fmtp: dict[str, str] = field(default_factory=dict)
    feedback: frozenset[str] = frozenset()  # rtcp-fb values: "nack", "nack pli", "ccm fir"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def packetization_mode(self) -> int:
        return int(self.fmtp.get("packetization-mode", "0"))

    def h264_profile(self) -> tuple[str, str]:
        """(libx264 profile, level) from profile-level-id (42e01f when absent, RFC 6184)."""
        pli = self.fmtp.get("profile-level-id", "42e01f")
        profile_idc, level_idc = int(pli[:2], 16), int(pli[4:6], 16)
        if profile_idc not in H264_PROFILES:
            raise UnsupportedFormat(f"H.264 profile_idc {profile_idc:#x} is not supported")
        return H264_PROFILES[profile_idc], f"{level_idc // 10}.{level_idc % 10}"


def packetizer(codec: Negotiated) -> Packetizer:
    name = codec.name.upper()
    if name == "H264":
        return H264Packetizer(codec.packetization_mode)
    formats: dict[str, Callable[[], Packetizer]] = {
        "H261": H261Packetizer, "H263": H263Packetizer, "H263-1998": H263PlusPacketizer,
        "VP8": Vp8Packetizer, "VP9": Vp9Packetizer}
    return formats.get(name, AudioPacketizer)()


def depacketizer(codec: Negotiated) -> Depacketizer:
    name = codec.name.upper()
    if name == "H264":
        return H264Depacketizer(codec.packetization_mode)
    formats: dict[str, Callable[[], Depacketizer]] = {
        "H261": H261Depacketizer, "H263": H263Depacketizer, "H263-1998": H263PlusDepacketizer,
        "VP8": Vp8Depacketizer, "VP9": Vp9Depacketizer}
    return formats.get(name, AudioDepacketizer)()


def check_video_size(name: str, width: int, height: int) -> None:
    sizes = FIXED_SIZES.get(name.upper())
    if sizes is not None and (width, height) not in sizes:
        allowed = ", ".join(f"{w}x{h}" for w, h in sizes)
        raise UnsupportedFormat(f"{name} carries only {allowed}, not {width}x{height}")
    if name.upper() == "H263-1998" and (width % 4 or height % 4):
        raise UnsupportedFormat(f"H.263+ needs sizes that are multiples of 4, not {width}x{height}")
    if width % 2 or height % 2:
        raise UnsupportedFormat(f"{width}x{height}: odd sizes are not encodable")


# RFC 4587 / RFC 4629 picture-size parameters (the value is the MPI; its presence enables the size)
FMTP_SIZES = {"SQCIF": SUB_QCIF, "QCIF": QCIF, "CIF": CIF, "CIF4": CIF4, "CIF16": CIF16}


def offered_sizes(codec: Negotiated) -> list[tuple[int, int]]:
    """The picture sizes an H.261/H.263/H.263+ receiver's fmtp allows, largest first; for
    H.261 and H.263 without size parameters the RFCs' defaults (QCIF; QCIF and CIF for
    H.261's RFC 4587). Empty for codecs without size parameters (any size)."""
    name = codec.name.upper()
    if name not in ("H261", "H263", "H263-1998"):
        return []
    present = {key.upper() for key in codec.fmtp}  # the SDP parser lowercases fmtp names
    sizes = [size for key, size in FMTP_SIZES.items() if key in present]
    if name in FIXED_SIZES:
        sizes = [s for s in sizes if s in FIXED_SIZES[name]]
    if not sizes:
        sizes = [CIF, QCIF] if name == "H261" else [QCIF]
    return sorted(sizes, key=lambda s: s[0] * s[1], reverse=True)


# H.264 packetization-mode 0 sends each NAL unit alone in one packet: the encoder caps its
# slices (x264 slice-max-size, bytes) below MAX_PAYLOAD; the MCU's encoder groups use it too
MODE0_SLICE_MAX_BYTES = 1100


def _video_options(codec: Negotiated) -> dict[str, str]:
    name = codec.name.upper()
    if name == "H264":
        profile, level = codec.h264_profile()
        options = {"profile": profile, "level": level, "tune": "zerolatency",
                   "preset": "ultrafast" if profile == "baseline" else "veryfast"}
        if codec.packetization_mode == 0:  # every NAL unit must fit one packet
            options["x264-params"] = f"slice-max-size={MODE0_SLICE_MAX_BYTES}"
        return options
    if name in ("H263", "H263-1998"):
        # RTP mode: GOB/slice headers (byte aligned for H.263+); macroblock info every 1000
        # bytes for RFC 2190 mode B (payloads/h263.py)
        return {"ps": "1000", "mb_info": "1000"} if name == "H263" else {"ps": "1000"}
    if name in ("VP8", "VP9"):
        return {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    return {}


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    data: bytes
    keyframe: bool
    side_data: bytes = b""  # H.263: the encoder's macroblock info (RFC 2190 mode B)

    @classmethod
    def of(cls, packet: av.Packet) -> EncodedFrame:
        side = b""
        if packet.has_sidedata("h263_mb_info"):
            side = bytes(packet.get_sidedata("h263_mb_info"))
        return cls(bytes(packet), bool(packet.is_keyframe), side)


class VideoEncoder:
    """Pictures -> encoded frames of the negotiated codec at one size and rate."""

    def __init__(self, codec: Negotiated, width: int, height: int, fps: int = 30,
                 bitrate: int = 1_500_000) -> None:
        check_video_size(codec.name, width, height)
        self.codec = codec
        self.width, self.height = width, height
        ctx = av.CodecContext.create(codec.spec.encoder, "w")
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = fractions.Fraction(1, fps)
        ctx.framerate = fractions.Fraction(fps, 1)
        ctx.bit_rate = bitrate
        ctx.gop_size = 10 * fps
        ctx.max_b_frames = 0
        ctx.options = _video_options(codec)
        self._ctx = ctx
        self._pts = 0

    def encode(self, frame: av.VideoFrame, keyframe: bool = False) -> list[EncodedFrame]:
        """The encoded frames the encoder gives back for this picture."""
        if (frame.width, frame.height) != (self.width, self.height) or frame.format.name != "yuv420p":
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        # as aiortc's encoders do, the picture's pts, time_base and pict_type are set here
        frame.pts = self._pts
        frame.time_base = self._ctx.time_base
        self._pts += 1
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        return [EncodedFrame.of(p) for p in self._ctx.encode(frame)]


class VideoDecoder:
    def __init__(self, codec: Negotiated) -> None:
        ctx = av.CodecContext.create(codec.spec.decoder, "r")
        assert isinstance(ctx, av.VideoCodecContext)
        self._ctx = ctx

    def decode(self, data: bytes) -> list[av.VideoFrame]:
        frames = self._ctx.decode(av.Packet(data))
        return [f for f in frames if isinstance(f, av.VideoFrame)]


def _layout(channels: int) -> str:
    return "stereo" if channels == 2 else "mono"


class AudioEncoder:
    """Audio frames of any rate/layout -> 20 ms encoded frames of the negotiated codec."""

    def __init__(self, codec: Negotiated, bitrate: int = 64000) -> None:
        spec = codec.spec
        ctx = av.CodecContext.create(spec.encoder, "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = spec.sample_rate
        ctx.format = "s16"
        ctx.layout = _layout(spec.channels)
        ctx.time_base = fractions.Fraction(1, spec.sample_rate)
        if spec.encoder == "libopus":
            ctx.bit_rate = bitrate
        self._ctx = ctx
        self.samples = spec.sample_rate * AUDIO_PTIME_MS // 1000
        self.rtp_step = spec.clock_rate * AUDIO_PTIME_MS // 1000  # G.722: 160 per 20 ms
        self._resampler = av.AudioResampler(format="s16", layout=_layout(spec.channels),
                                            rate=spec.sample_rate, frame_size=self.samples)
        self._pts = 0

    def encode(self, frame: av.AudioFrame) -> list[bytes]:
        frame.pts = None
        out: list[bytes] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._pts
            self._pts += chunk.samples
            out.extend(bytes(p) for p in self._ctx.encode(chunk))
        return out


class AudioDecoder:
    def __init__(self, codec: Negotiated) -> None:
        spec = codec.spec
        ctx = av.CodecContext.create(spec.decoder, "r")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = spec.sample_rate
        ctx.layout = _layout(spec.channels)
        self._ctx = ctx

    def decode(self, data: bytes) -> list[av.AudioFrame]:
        return [f for f in self._ctx.decode(av.Packet(data)) if isinstance(f, av.AudioFrame)]
