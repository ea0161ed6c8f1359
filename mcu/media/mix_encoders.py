"""One Opus encoder per distinct mix, shared by every site that hears it.

The mixer gives each frame at most (mixed speakers + 2) distinct mixes (mcu/media/
audio_mixer.py); the sites that negotiated Opus get the packets of their mix's encoder, so a
16-site conference encodes about 6 streams rather than 16, and no site's audio goes through
aiortc's thread pool. An encoder lives while some site hears its mix, frame after frame; one whose
mix went unheard for a frame is replaced by a new one when it is heard again (it would
otherwise begin with stale look-ahead), and closed after RETIRE_FRAMES unheard.
"""

from __future__ import annotations

from collections.abc import Collection

import av

from mcu.media.audio_mixer import FRAME_SAMPLES, MixKey, MixResult
from rtc.opus_packets import OpusPacketEncoder

RETIRE_FRAMES = 250  # 5 s


class MixEncoders:
    def __init__(self) -> None:
        self._encoders: dict[MixKey, OpusPacketEncoder] = {}
        self._last_used: dict[MixKey, int] = {}
        self.frames_encoded = 0
        self.encoders_opened = 0

    def __len__(self) -> int:
        return len(self._encoders)

    def encode(self, result: MixResult, listeners: Collection[str], tick: int
               ) -> dict[MixKey, list[av.Packet]]:
        """The packets of this frame (`tick`: its index; pts = tick * 960) of every mix that
        one of `listeners` hears."""
        packets: dict[MixKey, list[av.Packet]] = {}
        pts = tick * FRAME_SAMPLES
        for uri in listeners:
            key = result.heard_by[uri]
            if key in packets:
                continue
            encoder = self._encoders.get(key)
            if encoder is None or tick - self._last_used[key] > 1:
                # An encoder that skipped frames would start with its look-ahead (~6.5 ms)
                # of the audio it last encoded, seconds ago: a new one starts clean.
                encoder = self._encoders[key] = OpusPacketEncoder()
                self.encoders_opened += 1
            packets[key] = encoder.encode(result.mixes[key], pts)
            self._last_used[key] = tick
            self.frames_encoded += 1
        for key, used in list(self._last_used.items()):
            if tick - used > RETIRE_FRAMES:
                del self._last_used[key], self._encoders[key]
        return packets
