"""One Opus encoder per distinct mix, shared by every site that hears it.

The mixer gives each frame at most (mixed speakers + 2) distinct mixes (mcu/media/
audio_mixer.py); the sites that negotiated Opus get the packets of their mix's encoder, so a
16-site conference encodes about 6 streams rather than 16, and no site's audio goes through
aiortc's thread pool. An encoder lives while its mix is heard, frame after frame: a mix
nobody heard in the last frame loses its encoder, and gets a new one when it is heard again
(a kept encoder would begin with its look-ahead, ~6.5 ms, of audio from seconds before).

The encoders run with libwebrtc's settings for a desktop sender, rtc/opus_packets.py's
defaults, shared with the terminals' voices (complexity 9, constrained VBR), not FFmpeg's
defaults (complexity 10, unconstrained VBR). Unconstrained, the synthetic voices of a mix
came out at about 94 kbit/s for a 48 kbit/s target; constrained, at the target, for less CPU
per frame (docs/benchmarks.md, "The MCU's audio path"). A complexity below 7 is no cheaper
here: without libopus's signal analysis the voip mode codes the mixes in hybrid SILK+CELT, up
to twice the CPU of CELT at 9.
"""

from __future__ import annotations

from collections.abc import Collection

import av

from mcu.media.audio_mixer import FRAME_SAMPLES, MixKey, MixResult
from rtc.opus_packets import OpusPacketEncoder


class MixEncoders:
    def __init__(self) -> None:
        self._encoders: dict[MixKey, OpusPacketEncoder] = {}  # the mixes heard last frame
        self.frames_encoded = 0
        self.encoders_opened = 0

    def __len__(self) -> int:
        return len(self._encoders)

    def encode(self, result: MixResult, listeners: Collection[str], tick: int
               ) -> dict[MixKey, list[av.Packet]]:
        """The packets of this frame (`tick`: its index; pts = tick * 960) of every mix that
        one of `listeners` hears."""
        packets: dict[MixKey, list[av.Packet]] = {}
        encoders: dict[MixKey, OpusPacketEncoder] = {}
        pts = tick * FRAME_SAMPLES
        for uri in listeners:
            key = result.heard_by[uri]
            if key in packets:
                continue
            encoder = self._encoders.get(key)
            if encoder is None:
                encoder = OpusPacketEncoder()
                self.encoders_opened += 1
            encoders[key] = encoder
            packets[key] = encoder.encode(result.mixes[key], pts)
            self.frames_encoded += 1
        self._encoders = encoders
        return packets
