"""The MCU's audio path as it was at commit 7bd6dac, before its cost was cut (docs/
benchmarks.md, "The audio path"): its mixer, fifo, mix input, level computation, mix encoders
(libopus through PyAV at FFmpeg's defaults, a new AVFrame per frame) and step, kept verbatim
for benchmarks/audio_path.py's "before" variant only. Nothing in the MCU imports it.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import av
import numpy as np
from aiortc.codecs import get_decoder

from mcu.media.audio_mixer import (
    EVERYONE,
    FIFO_SECONDS,
    FRAME_SAMPLES,
    PREBUFFER_FRAMES,
    SAMPLE_RATE,
    SILENCE,
    STANDING_KEEP_FRAMES,
    STANDING_MAX_FRAMES,
    STANDING_WINDOW_FRAMES,
    MixInput,
    MixKey,
    MixResult,
    volume_gain,
)
from mcu.media.conference_audio import MIX_WAIT_SMOOTHING, ConferenceAudio
from mcu.media.conference_outputs import hear_outputs
from rtc.audio_level import MIN_AUDIO_LEVEL
from rtc.codec_preferences import OPUS
from rtc.opus_packets import OPUS_BITRATE, OPUS_SAMPLE_RATE, OPUS_TIME_BASE, MonoOpusDecoder

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia

log = logging.getLogger(__name__)


def install(conference: ConferenceMedia) -> None:
    """The conference's audio step as it was (its mixer, encoders and level computation)."""
    current = conference.audio
    conference.audio = BeforeConferenceAudio(conference, current._report_levels,
                                             current._speakers.limit)


def inline_decoder(consume: Any) -> InlineAudioDecoder:
    return InlineAudioDecoder(consume)


class AudioMixer:
    """Stateless N-1 mixing of one 20 ms frame per site."""

    def mix(
        self,
        inputs: Sequence[MixInput],
        frames: Mapping[str, np.ndarray],
        speakers: Collection[str] | None = None,
    ) -> MixResult:
        """frames: uri -> 960 int16 samples (a site without a frame sends silence);
        speakers: the sites to mix (None: every unmuted site with a frame). A chosen speaker
        without a frame this time keeps hearing its own N-1 mix (the same samples as
        everyone's), so its stream does not change encoder for a 20 ms gap."""
        chosen = {
            site.uri for site in inputs
            if not site.muted and (site.uri in frames if speakers is None else site.uri in speakers)
        }
        mixed = [site for site in inputs if site.uri in chosen and site.uri in frames]
        block = np.empty((len(mixed), FRAME_SAMPLES), np.float32)
        gains = np.empty(len(mixed), np.float32)
        for row, site in enumerate(mixed):
            block[row] = frames[site.uri]
            gains[row] = volume_gain(site.volume)
        block *= gains[:, None]
        total = block.sum(axis=0)
        rows = {site.uri: row for row, site in enumerate(mixed)}
        mixes: dict[MixKey, np.ndarray] = {}
        heard_by: dict[str, MixKey] = {}
        for site in inputs:
            if site.quiet:
                key = SILENCE
                if key not in mixes:
                    mixes[key] = np.zeros(FRAME_SAMPLES, np.int16)
            elif site.uri in chosen:
                key = MixKey(site.uri)
                own = block[rows[site.uri]] if site.uri in rows else 0.0
                mixes[key] = _to_int16(total - own)
            else:
                key = EVERYONE
                if key not in mixes:
                    mixes[key] = _to_int16(total)
            heard_by[site.uri] = key
        return MixResult(mixes, heard_by, tuple(rows))


def _to_int16(mix: np.ndarray) -> np.ndarray:
    return np.clip(mix, -32768, 32767).astype(np.int16)



class SampleFifo:
    """A bounded ring of mono int16 samples: decoded audio in, 20 ms frames out. When full,
    the oldest samples go (the sender's clock runs ahead of ours); a backlog that stands a
    whole second beyond STANDING_MAX_FRAMES is cut back (see STANDING_WINDOW_FRAMES)."""

    def __init__(self, capacity: int = int(SAMPLE_RATE * FIFO_SECONDS)) -> None:
        self._ring = np.zeros(capacity, np.int16)
        self._start = 0
        self._size = 0
        self._primed = False
        self._reads = 0
        self._least_left: int | None = None  # the least held after a read this window
        self.samples_trimmed = 0

    def __len__(self) -> int:
        return self._size

    def write(self, samples: np.ndarray) -> None:
        capacity = len(self._ring)
        if len(samples) >= capacity:
            samples = samples[-capacity:]
        overflow = self._size + len(samples) - capacity
        if overflow > 0:
            self._start = (self._start + overflow) % capacity
            self._size -= overflow
        end = (self._start + self._size) % capacity
        first = min(len(samples), capacity - end)
        self._ring[end : end + first] = samples[:first]
        self._ring[: len(samples) - first] = samples[first:]
        self._size += len(samples)

    def read_frame(self) -> np.ndarray | None:
        """960 samples, or None while there is not enough audio (then the site is silent)."""
        if not self._primed:
            if self._size < PREBUFFER_FRAMES * FRAME_SAMPLES:
                return None
            self._primed = True
        if self._size < FRAME_SAMPLES:
            self._primed = False
            return None
        capacity = len(self._ring)
        indices = (self._start + np.arange(FRAME_SAMPLES)) % capacity
        frame = self._ring[indices]
        self._start = (self._start + FRAME_SAMPLES) % capacity
        self._size -= FRAME_SAMPLES
        self._trim_standing_backlog()
        return frame

    def _trim_standing_backlog(self) -> None:
        least = self._size if self._least_left is None else min(self._least_left, self._size)
        self._reads += 1
        if self._reads < STANDING_WINDOW_FRAMES:
            self._least_left = least
            return
        self._reads, self._least_left = 0, None
        if least > STANDING_MAX_FRAMES * FRAME_SAMPLES:
            drop = least - STANDING_KEEP_FRAMES * FRAME_SAMPLES
            self._start = (self._start + drop) % len(self._ring)
            self._size -= drop
            self.samples_trimmed += drop


class AudioInput:
    """Decoded frames of one site (any rate, layout) -> 48 kHz mono samples in a fifo."""

    def __init__(self) -> None:
        self.fifo = SampleFifo()
        self.frames_received = 0
        self._resampler: av.AudioResampler | None = None
        self._resampling: tuple[int, str, str] | None = None  # rate, layout, format it takes

    def add(self, frame: av.AudioFrame) -> None:
        self.frames_received += 1
        if frame.sample_rate == SAMPLE_RATE and frame.format.name == "s16":
            # What aiortc's decoders deliver (Opus: 48 kHz s16 stereo, interleaved): the
            # downmix in numpy, the same samples FFmpeg's resampler gives ((L + R + 1) >> 1),
            # about 30 times cheaper on the event loop than a swresample call per frame.
            channels = len(frame.layout.channels)
            if channels == 1:
                self.fifo.write(frame.to_ndarray().reshape(-1))
                return
            if channels == 2:
                pairs = frame.to_ndarray().reshape(-1, 2).astype(np.int32)
                self.fifo.write(((pairs[:, 0] + pairs[:, 1] + 1) >> 1).astype(np.int16))
                return
        source = (frame.sample_rate, frame.layout.name, frame.format.name)
        if self._resampler is None or source != self._resampling:
            # A resampler is set up by its first frame: a call whose codec changes (G.722 to
            # PCMU, 16 to 8 kHz) needs a new one.
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            self._resampling = source
        for converted in self._resampler.resample(frame):
            self.fifo.write(converted.to_ndarray().reshape(-1))



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


class OpusPacketEncoder:
    """48 kHz mono int16 frames of 20 ms in, one Opus packet per frame out."""

    def __init__(self, bitrate: int = OPUS_BITRATE) -> None:
        context = av.CodecContext.create("libopus", "w")
        context.bit_rate = bitrate
        context.format = "s16"
        context.layout = "mono"
        context.sample_rate = OPUS_SAMPLE_RATE
        context.time_base = OPUS_TIME_BASE
        context.options = {"application": "voip"}
        self._context = context
        self.frames_encoded = 0

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """The packet(s) of one 20 ms frame (960 int16 samples) whose first sample is at
        `pts` (in 1/48000 s)."""
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = OPUS_SAMPLE_RATE
        frame.pts = pts
        frame.time_base = OPUS_TIME_BASE
        packets = list(self._context.encode(frame))
        for packet in packets:
            packet.pts = pts
            packet.time_base = OPUS_TIME_BASE
        self.frames_encoded += 1
        return packets



def mean_squares(samples: np.ndarray) -> np.ndarray:
    """Mean square per row of an (N, samples) int16 block, as float64."""
    block = samples.astype(np.float32)
    return np.einsum("ij,ij->i", block, block, dtype=np.float64) / max(1, samples.shape[1])



class InlineAudioDecoder(queue.Queue):
    def __init__(self, consume: Callable[[av.AudioFrame], None]) -> None:
        super().__init__()
        self._consume = consume
        self._decoder: Any = None
        self._codec_name: str | None = None
        self.frames_decoded = 0
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


class BeforeConferenceAudio(ConferenceAudio):
    def __init__(self, conference: ConferenceMedia, report_levels: Any,
                 mixed_speakers: int) -> None:
        super().__init__(conference, report_levels, mixed_speakers)
        self._mixer = AudioMixer()  # type: ignore[assignment]
        self.mix_encoders = MixEncoders()  # type: ignore[assignment]

    def mix_once(self) -> MixResult | None:
        """One 20 ms step: take a frame from every joined site, choose the mixed speakers,
        mix N-1, encode each distinct mix once, queue the result on the outgoing tracks,
        meter the levels."""
        conference = self._conference
        sites = conference.sites
        participants = [uri for uri in conference.joined if uri in sites]
        if not participants:
            return None
        frames = {}
        waiting = []
        for uri in participants:
            fifo = sites[uri].audio_in.fifo
            samples = fifo.read_frame()
            if samples is not None:
                frames[uri] = samples
                waiting.append(len(fifo))
        if waiting:
            # the frame just read arrived about as long ago as the samples behind it last
            waited = sum(waiting) / len(waiting) / SAMPLE_RATE
            self.mix_wait_s += MIX_WAIT_SMOOTHING * (waited - self.mix_wait_s)
        inputs = []
        for uri in participants:
            control = conference._control(uri)
            inputs.append(MixInput(uri, control.muted, control.quiet, control.volume))
        heard = list(frames)
        powers = mean_squares(np.stack([frames[uri] for uri in heard])) if heard else None
        eligible = [site.uri for site in inputs if not site.muted]
        speakers = self._speakers.update(
            dict(zip(heard, powers.tolist(), strict=True)) if powers is not None else {},
            eligible)
        self.mixed_speakers = speakers
        result = self._mixer.mix(inputs, frames, speakers)
        hear_outputs(conference, inputs, frames, result, self.mix_wait_s)
        opus_sites = {uri for uri in participants if sites[uri].audio_codec == OPUS}
        packets = self.mix_encoders.encode(result, opus_sites, self._tick)
        self._tick += 1
        for uri in participants:
            key = result.heard_by[uri]
            if uri in opus_sites:
                # before the mixes stated their level: the packets were sent with none
                sites[uri].audio_out.push_packets(packets[key], MIN_AUDIO_LEVEL)
            else:
                sites[uri].audio_out.push(result.mixes[key])
        if powers is not None:
            self._meter.add(heard, powers)
        return result
