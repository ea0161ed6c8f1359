"""Opus encoding done by the sending side itself, handed to aiortc as ready packets.

aiortc's RTCRtpSender encodes every AudioFrame a track returns in its default thread pool
(a hop to a worker and back per 20 ms frame and per sender), through a resampler, as 96
kbit/s stereo, and computes the RFC 6464 level of each frame. A track that returns an
av.Packet instead is only packetized (`OpusEncoder.pack`: the payload as is, the RTP
timestamp from the packet's pts), on the event loop, at no further cost.

So both sides encode their own audio here, mono (one voice, one mix: a stereo decoder plays
a mono Opus stream on both channels at the same level), and the MCU encodes each distinct
mix once for every site that hears it. Each packet carries the pts of the 20 ms frame it
encodes (libopus's 312-sample look-ahead is the same for every encoder), so a listener
moved from one encoder's stream to another's keeps a continuous RTP clock.

Every encoder here runs with libwebrtc's settings for a desktop sender (api/audio_codecs/opus/
audio_encoder_opus_config.cc: complexity 9, 5 only on mobile; VBR with libopus's default
constraint), the MCU's mixes (mcu/media/mix_encoders.py) and the terminals' voices
(terminals/speech_packets.py) alike, not FFmpeg's defaults (complexity 10, unconstrained
VBR): unconstrained, the streams came out well above the 48 kbit/s their SDP states
(`maxaveragebitrate=48000`, docs/signalling.md): ~94 kbit/s for the synthetic voices of a mix,
~70 for one terminal's voice; constrained, at the target, for less CPU per frame
(docs/benchmarks.md, "The MCU's audio path" and "The terminals' Opus at its stated rate").
"""

from __future__ import annotations

import fractions
from typing import Any

import av
import numpy as np

OPUS_SAMPLE_RATE = 48_000
OPUS_FRAME_SAMPLES = 960  # 20 ms, the WebRTC default ptime
OPUS_TIME_BASE = fractions.Fraction(1, OPUS_SAMPLE_RATE)
OPUS_BITRATE = 48_000  # mono speech or a speech mix: transparent at this rate


VBR_MODES = ("off", "on", "constrained")  # FFmpeg libopus's `vbr`: CBR, VBR, constrained VBR
# libwebrtc's desktop sender (the module's docstring): every encoder's default
WEBRTC_DESKTOP_COMPLEXITY = 9
WEBRTC_DESKTOP_VBR = "constrained"


class OpusPacketEncoder:
    """48 kHz mono int16 frames of 20 ms in, one Opus packet per frame out.

    `complexity` (0..10) and `vbr` (VBR_MODES) set libopus's complexity and FFmpeg's VBR
    mode: libwebrtc's desktop settings unless told otherwise; None keeps FFmpeg's default
    (complexity 10, unconstrained VBR: the terminals' settings before, for the benchmarks'
    "before"). Each frame is copied into one AVFrame the encoder keeps (libopus has consumed it when
    encode() returns), not a new one built per frame: the same packets, bit for bit."""

    def __init__(self, bitrate: int = OPUS_BITRATE, *,
                 complexity: int | None = WEBRTC_DESKTOP_COMPLEXITY,
                 vbr: str | None = WEBRTC_DESKTOP_VBR) -> None:
        options = {"application": "voip"}
        if complexity is not None:
            if not 0 <= complexity <= 10:
                raise ValueError(f"Opus complexity {complexity} outside 0..10")
            options["compression_level"] = str(complexity)
        if vbr is not None:
            if vbr not in VBR_MODES:
                raise ValueError(f"Opus VBR mode {vbr!r} not one of {VBR_MODES}")
            options["vbr"] = vbr
        context = av.CodecContext.create("libopus", "w")
        context.bit_rate = bitrate
        context.format = "s16"
        context.layout = "mono"
        context.sample_rate = OPUS_SAMPLE_RATE
        context.time_base = OPUS_TIME_BASE
        context.options = options
        self._context = context
        frame = av.AudioFrame(format="s16", layout="mono", samples=OPUS_FRAME_SAMPLES)
        frame.sample_rate = OPUS_SAMPLE_RATE
        frame.time_base = OPUS_TIME_BASE
        self._frame = frame
        self._samples = np.frombuffer(memoryview(frame.planes[0]), np.int16, count=OPUS_FRAME_SAMPLES)
        self.frames_encoded = 0

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """The packet(s) of one 20 ms frame (960 int16 samples) whose first sample is at
        `pts` (in 1/48000 s)."""
        self._samples[:] = samples.reshape(-1)
        frame = self._frame
        frame.pts = pts
        packets = list(self._context.encode(frame))
        for packet in packets:
            packet.pts = pts
            packet.time_base = OPUS_TIME_BASE
        self.frames_encoded += 1
        return packets


class MonoOpusDecoder:
    """An Opus stream decoded to 48 kHz mono int16 frames, for a receiver that mixes mono.

    aiortc's OpusDecoder asks libopus for stereo, which a mono stream (ours, a browser's
    microphone) gives as two equal channels that the mixer then averages back to one
    (mcu/media/audio_mixer.AudioInput). Asked for mono, libopus gives that channel itself
    (the same samples, bit for bit) and downmixes a stereo stream itself; about a fifth
    less CPU per 20 ms frame on the event loop (docs/benchmarks.md, "The receive path")."""

    def __init__(self) -> None:
        context = av.CodecContext.create("libopus", "r")
        context.format = "s16"
        context.layout = "mono"
        context.sample_rate = OPUS_SAMPLE_RATE
        self._context = context

    def decode(self, encoded_frame: Any) -> list[av.AudioFrame]:
        """The frames of one encoded frame (aiortc's JitterFrame: `data`, `timestamp`)."""
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = OPUS_TIME_BASE
        return self._context.decode(packet)


# RFC 6716 section 3.1: the TOC byte's configuration (its top 5 bits) -> the duration of each
# frame in 48 kHz samples (SILK 10/20/40/60 ms, Hybrid 10/20, CELT 2.5/5/10/20)
_SILK_FRAME_SAMPLES = (480, 960, 1920, 2880)
_HYBRID_FRAME_SAMPLES = (480, 960)
_CELT_FRAME_SAMPLES = (120, 240, 480, 960)
OPUS_CONFIG_FRAME_SAMPLES: tuple[int, ...] = (
    _SILK_FRAME_SAMPLES * 3 + _HYBRID_FRAME_SAMPLES * 2 + _CELT_FRAME_SAMPLES * 4)
OPUS_MAX_PACKET_SAMPLES = 5760  # 120 ms, the most one packet may hold (RFC 6716 3.2.5)


def opus_packet_samples(packet: bytes) -> int | None:
    """The duration of an Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 3.1:
    the configuration's frame size times the frame count code's frames: 1, 2, 2, or the
    count in the next byte's low 6 bits); None for what is not a packet (empty, a code 3
    without its count byte, more than 120 ms)."""
    if not packet:
        return None
    toc = packet[0]
    code = toc & 0x03
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    elif len(packet) < 2:
        return None
    else:
        frames = packet[1] & 0x3F
    samples = OPUS_CONFIG_FRAME_SAMPLES[toc >> 3] * frames
    return samples if 0 < samples <= OPUS_MAX_PACKET_SAMPLES else None
