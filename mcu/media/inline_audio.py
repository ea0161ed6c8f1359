"""A site's audio decoded on the event loop, straight into its mix input.

aiortc gives every receiver a decoder thread: each reassembled audio frame is queued to it,
decoded there, and handed back to the event loop with run_coroutine_threadsafe (a task per
20 ms frame), where the remote track's recv() gives it to us. For Opus (48 kHz, about 50 us
a frame) that round trip costs more than the decoding: in a 16-site conference, 16 decoder
threads and the loop's share of 800 frames a second cost about 15 % of a core, and each
hand-over takes the GIL from the loop.

The receiver's decoder queue is the one per-receiver seam (rtc/aiortc_hooks.py, as in
terminals/frame_counter.py): an InlineAudioDecoder in its place decodes each frame the
moment the jitter buffer hands it over, on the loop, with aiortc's own decoder for the
codec (for Opus, rtc/opus_packets.MonoOpusDecoder: mono, the mix's layout, where aiortc's
gives stereo the mixer would average back to mono), and gives the frames to the site's
AudioInput; aiortc's thread idles on an empty
queue until the receiver stops. Video keeps aiortc's threads: decoding a picture would stall
the loop.

A voice nobody would hear is not decoded. An Opus frame whose packet states its RFC 6464
level (rtc/audio_jitter_buffer.LevelledFrame: browsers send it, the simulated terminals too)
is first shown to the decoder's `gate` (the conference's, mcu/media/conference_audio.py
`decodes`). Once the gate has let a frame through, the next HANGOVER_SAMPLES (200 ms) of
frames are decoded whatever it says (a site just muted too: the mix leaves it out anyway): the packet after a talk spurt's last loud block still carries that block's
last 6.5 ms (libopus looks 312 samples ahead), and a talker's quieter frames between
syllables are decoded by the time its level wins it a place in the mix. Past that, a frame
the gate refuses (a muted site, a level nobody would hear, a site that is not mixed and is
too quiet to take a mixed site's place) goes to `level_only` instead of the decoder, with
its duration (its TOC byte, rtc/opus_packets.opus_packet_samples): the site's mix input
takes that much silence and the level, which the choice of the mixed speakers and the voice
switching read as they read a decoded frame's. The next frame decoded after one left
undecoded is decoded by a new decoder, which starts from silence as the mix input did. A
frame without a level, or of another codec (G.722, G.711: cheap to decode), is always
decoded, and so is one the gate fails on.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder

from rtc.aiortc_hooks import replace_decoder_queue
from rtc.opus_packets import MonoOpusDecoder, opus_packet_samples

log = logging.getLogger(__name__)

HANGOVER_SAMPLES = 9_600  # 200 ms (48 kHz) decoded after each frame the gate let through


class InlineAudioDecoder(queue.Queue):
    def __init__(self, consume: Callable[[av.AudioFrame], None],
                 gate: Callable[[int], bool] | None = None,
                 level_only: Callable[[int, int], None] | None = None) -> None:
        super().__init__()
        self._consume = consume
        # gate(level in dBov) -> decode it; level_only(level, 48 kHz samples): what takes
        # the frame when not
        self.gate = gate
        self.level_only = level_only
        self._hangover = 0  # samples still decoded whatever the gate says
        self._decoder: Any = None
        self._codec_name: str | None = None
        self.frames_decoded = 0
        self.frames_undecoded = 0  # left undecoded by their level: nobody would hear them
        self.decode_errors = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops: its (idle) decoder thread must end
            super().put(item, block, timeout)
            return
        codec, encoded_frame = item
        # put() runs inside aiortc's packet handling: an exception escaping here would end
        # the DTLS transport, video and all. A frame that fails is skipped and counted (as
        # aiortc's decoder thread does, keeping the decoder's state).
        try:
            if self._unheard(codec, encoded_frame):
                return
            if codec.name != self._codec_name:
                # Opus decoded to mono, the mix's own layout (rtc/opus_packets.py); the
                # other codecs with aiortc's decoders (mono already)
                self._decoder = (MonoOpusDecoder() if codec.name.lower() == "opus"
                                 else get_decoder(codec))
                self._codec_name = codec.name
            frames = self._decoder.decode(encoded_frame)
            for frame in frames:
                self.frames_decoded += 1
                self._consume(frame)
        except Exception as error:
            self.decode_errors += 1
            log.debug("audio frame of %s not decoded or not mixed: %r", codec.name, error)

    def _unheard(self, codec: Any, encoded_frame: Any) -> bool:
        """Leave this frame undecoded (to `level_only`)? Only an Opus frame with a level,
        past the hangover of the last one the gate let through, that the gate refuses."""
        level = getattr(encoded_frame, "level_dbov", None)
        gate, level_only = self.gate, self.level_only
        if level is None or gate is None or level_only is None \
                or codec.name.lower() != "opus":
            return False
        samples = opus_packet_samples(encoded_frame.data)
        if samples is None:
            return False  # not a packet: the decoder counts its error
        try:
            heard = gate(level)
        except Exception:  # the gate's own failure: decoded, as without a gate
            log.exception("voice gate failed: the frame is decoded")
            return False
        if heard:
            self._hangover = HANGOVER_SAMPLES
            return False
        if self._hangover > 0:
            self._hangover -= samples
            return False
        level_only(level, samples)
        self.frames_undecoded += 1
        # the next frame decoded starts a new decoder: the old one's state is that of the
        # last frame it decoded, maybe seconds ago, whose tail it would overlap with the new
        # frame's start; a new one starts from silence, which is what the mix input has had
        self._codec_name = None
        return True


def decode_audio_inline(receiver: RTCRtpReceiver,
                        consume: Callable[[av.AudioFrame], None],
                        gate: Callable[[int], bool] | None = None,
                        level_only: Callable[[int, int], None] | None = None,
                        ) -> InlineAudioDecoder:
    """Install on an audio receiver that has not started receiving."""
    decoder = InlineAudioDecoder(consume, gate, level_only)
    replace_decoder_queue(receiver, decoder)
    return decoder
