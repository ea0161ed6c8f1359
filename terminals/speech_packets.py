"""A talker's voice as Opus packets encoded once per level, not 50 times a second.

Encoding every 20 ms block on the event loop (~0.2 ms each) was about a third of a
16-terminal process's loop. But there are only a few distinct streams to encode: the voice
at unit level repeats exactly every period (SpeechSynth: 1 or 2 s, 50 or 100 blocks) and its
level is piecewise constant (talk spurts, set_level / talk_louder, silence). So for each
level used, the packets of one whole period are encoded once, and every block after that is
a look-up by (level, block position within the period) and a new av.Packet of the bytes.

The position is the synth's own sample position, which the synth still `advance`s block by
block (the schedule keeps time), so the packets encode exactly what the frame path
(next_block_s16, for G.722/G.711) would have sent at the same moment. At a change of level
the stream switches from one level's packets to the other's at that block: the decoder, whose
state comes from the old level's packets, settles within a frame or two, as it would after a
step a live encoder had encoded (and the step is heard 312 samples, the encoder's look-ahead,
earlier than a live encoder would place it: the new level's packet also encodes the end of
the block before).

The cache is per talker (a SpeechSynth, whichever call carries its voice) and keeps the
last MAX_CACHED_LEVELS levels used. A level not in it costs one encoder run of two periods
(2 x 50..100 encodes, ~20..40 ms on the loop), once: schedules and the demo use a handful
of levels (a spurt level, silence, a louder one), so that is a few runs per talker per run.

Cached and live packets come from rtc/opus_packets.py's encoder at its defaults, libwebrtc's
desktop settings (complexity 9, constrained VBR), the MCU's mix encoders' too: the voice
leaves at the 48 kbit/s average the negotiated SDP states (`maxaveragebitrate=48000`), not the ~70
kbit/s of FFmpeg's unconstrained VBR. The cache lives in memory only, per talker and per
process (nothing is written to disk), so no run encoded with other settings outlives the
code that encoded it.

Where the period is not a whole number of 20 ms blocks (a sample rate other than 48 kHz) or
the synth has no table (its period would be too long), each block is encoded live instead.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable

import av
import numpy as np

from rtc.audio_level import MIN_AUDIO_LEVEL, samples_level_dbov
from rtc.opus_packets import OPUS_FRAME_SAMPLES, OPUS_TIME_BASE, OpusPacketEncoder
from terminals.speech import SpeechSynth

MAX_CACHED_LEVELS = 8


def whole_period_frames(synth: SpeechSynth) -> int | None:
    """The talker's period in 20 ms blocks; None when it is not a whole number of them."""
    period = synth.period_samples
    if period is None or period % OPUS_FRAME_SAMPLES:
        return None
    return period // OPUS_FRAME_SAMPLES


class SpeechPacketCache:
    """The Opus packets of one whole period of a talker's voice, per level used."""

    def __init__(self, synth: SpeechSynth, max_levels: int = MAX_CACHED_LEVELS) -> None:
        frames = whole_period_frames(synth)
        if frames is None:
            raise ValueError(f"talker {synth.site_index}: no whole period of 20 ms blocks")
        self.synth = synth
        self.period_frames = frames
        self.period_samples = frames * OPUS_FRAME_SAMPLES
        self.max_levels = max_levels
        # (level, first sample of block 0 within a block) -> one packet per block of the period
        self._runs: OrderedDict[tuple[float, int], tuple[bytes, ...]] = OrderedDict()
        self._levels: dict[tuple[float, int], tuple[int, ...]] = {}  # the same keys: dBov
        self.runs_encoded = 0
        self.frames_encoded = 0

    def __len__(self) -> int:
        return len(self._runs)

    def cached_run(self, level: float, phase: int = 0) -> tuple[bytes, ...] | None:
        """The packets of the period at `level` if they are cached (not counted as a use)."""
        return self._runs.get((max(float(level), 0.0), phase))

    def packet(self, start: int, level: float) -> bytes:
        """The packet of the block whose first sample is `start`, spoken at `level`."""
        return self.packet_with_level(start, level)[0]

    def packet_with_level(self, start: int, level: float) -> tuple[bytes, int]:
        """The packet of the block whose first sample is `start`, spoken at `level`, and
        the level in dBov of the samples it encodes (RFC 6464's, rtc/audio_level.py)."""
        # Blocks are laid on the period from wherever the synth's position puts them (0 unless
        # someone drew an odd number of samples first); the period being whole blocks, that
        # offset is the same for every block of the talk, and the blocks tile the period.
        phase = start % OPUS_FRAME_SAMPLES
        key = (max(float(level), 0.0), phase)
        run = self._runs.get(key)
        if run is None:
            run, levels = self._encode_run(*key)
            self._runs[key] = run
            self._levels[key] = levels
            if len(self._runs) > self.max_levels:
                oldest, _ = self._runs.popitem(last=False)
                del self._levels[oldest]
        else:
            self._runs.move_to_end(key)
        block = (start % self.period_samples) // OPUS_FRAME_SAMPLES
        return run[block], self._levels[key][block]

    def _encode_run(self, level: float, phase: int) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
        period = self.synth.block_s16_at(phase, self.period_samples, level)
        blocks = period.reshape(self.period_frames, OPUS_FRAME_SAMPLES)
        levels = tuple(samples_level_dbov(block) for block in blocks)
        encoder = OpusPacketEncoder()
        # The period twice in a row, keeping the second pass: its first packet comes from an
        # encoder that has just encoded the end of the period, as a continuous stream's
        # would, so wrapping round from the last packet to the first is seamless for the
        # decoder. A fresh encoder's first packets are not: no history, 312 samples of
        # look-ahead primed with zeros, rate control still settling; sent at every wrap they
        # would put a glitch in the voice every period.
        packets: list[bytes] = []
        for pass_index in range(2):
            for index, block in enumerate(blocks):
                (packet,) = encoder.encode(block, (pass_index * len(blocks) + index)
                                           * OPUS_FRAME_SAMPLES)
                if pass_index == 1:
                    packets.append(bytes(packet))
        self.runs_encoded += 1
        self.frames_encoded += encoder.frames_encoded
        return tuple(packets), levels


_CACHES: weakref.WeakKeyDictionary[SpeechSynth, SpeechPacketCache] = weakref.WeakKeyDictionary()


def packet_cache_of(synth: SpeechSynth) -> SpeechPacketCache | None:
    """The talker's packet cache, shared by every call that carries its voice; None when
    its period is not whole blocks and every block has to be encoded live."""
    if whole_period_frames(synth) is None:
        return None
    cache = _CACHES.get(synth)
    if cache is None:
        cache = _CACHES[synth] = SpeechPacketCache(synth)
    return cache


class OpusVoice:
    """One call's voice as one Opus packet per 20 ms block: cached where the talker's
    period allows, else encoded live by an encoder of the call's own."""

    def __init__(self, synth: SpeechSynth) -> None:
        self.synth = synth
        self.cache = packet_cache_of(synth)
        self._live: OpusPacketEncoder | None = None
        # the level in dBov of the block the last packet encodes: what the terminal's sender
        # writes in the packet as its RFC 6464 audio level (aiortc writes none for a packet
        # it did not encode)
        self.last_level_dbov = MIN_AUDIO_LEVEL

    @property
    def live_frames_encoded(self) -> int:
        return 0 if self._live is None else self._live.frames_encoded

    def next_packet(self, pts: int,
                    shape: Callable[[np.ndarray], np.ndarray] | None = None) -> av.Packet:
        """The next block's packet, stamped `pts` (1/48000 s); moves the synth on a block.
        `shape` changes the block's samples before they are encoded (the sync pattern's
        click): with it the block is encoded live, the cache holding only the voice."""
        if self.cache is None or shape is not None:
            if self._live is None:
                self._live = OpusPacketEncoder()
            samples = self.synth.next_block_s16(OPUS_FRAME_SAMPLES)
            if shape is not None:
                samples = shape(samples)
            self.last_level_dbov = samples_level_dbov(samples)
            # One packet per 20 ms frame (OpusPacketEncoder's contract): aiortc sends each
            # packet the track returns as one RTP packet with the packet's pts as timestamp.
            (live_packet,) = self._live.encode(samples, pts)
            return live_packet
        start, level = self.synth.advance(OPUS_FRAME_SAMPLES)
        data, self.last_level_dbov = self.cache.packet_with_level(start, level)
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = OPUS_TIME_BASE
        return packet
