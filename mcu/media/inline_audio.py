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

A voice nobody would hear is not decoded. A frame whose packet states its RFC 6464 level
(rtc/audio_jitter_buffer.LevelledFrame: browsers send it, the simulated terminals too) is
first shown to the decoder's `gate` (the conference's, mcu/media/conference_audio.py
`decodes`); when the gate says the level cannot be heard (a muted site, a level below
audibility, a site that is not mixed and is too quiet to take a mixed site's place), the
frame goes to `level_only` instead of the decoder: the site's mix input takes 20 ms of
silence and the level, which the choice of the mixed speakers and the voice switching read
as they read a decoded frame's. The next frame decoded after one left undecoded is decoded
by a new decoder, which starts from silence as the mix input did. A frame without a level is
always decoded.
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
from rtc.opus_packets import MonoOpusDecoder

log = logging.getLogger(__name__)


class InlineAudioDecoder(queue.Queue):
    def __init__(self, consume: Callable[[av.AudioFrame], None],
                 gate: Callable[[int], bool] | None = None,
                 level_only: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._consume = consume
        # gate(level in dBov) -> decode it; level_only(level): what takes the frame when not
        self.gate = gate
        self.level_only = level_only
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
        level = getattr(encoded_frame, "level_dbov", None)
        if level is not None and self.gate is not None and self.level_only is not None \
                and not self.gate(level):
            self.frames_undecoded += 1
            # the next frame decoded starts a new decoder: the old one's state is that of
            # the last frame it decoded, maybe seconds ago, whose tail it would overlap
            # with the new frame's start; a new one starts from silence, which is what the
            # mix input has had since
            self._codec_name = None
            self.level_only(level)
            return
        # put() runs inside aiortc's packet handling: an exception escaping here would end
        # the DTLS transport, video and all. A frame that fails is skipped and counted (as
        # aiortc's decoder thread does, keeping the decoder's state).
        try:
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


def decode_audio_inline(receiver: RTCRtpReceiver,
                        consume: Callable[[av.AudioFrame], None],
                        gate: Callable[[int], bool] | None = None,
                        level_only: Callable[[int], None] | None = None,
                        ) -> InlineAudioDecoder:
    """Install on an audio receiver that has not started receiving."""
    decoder = InlineAudioDecoder(consume, gate, level_only)
    replace_decoder_queue(receiver, decoder)
    return decoder
