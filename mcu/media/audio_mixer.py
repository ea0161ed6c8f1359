"""N-1 audio mixing: every site hears the mixed speakers but itself.

Audio runs at 48 kHz, mono, signed 16-bit, in 20 ms frames (960 samples). Each site's
decoded audio goes through a resampler into a SampleFifo; once per 20 ms the conference takes
one frame from every fifo and mixes with numpy, without a Python loop over samples:

    contribution_i = input_i * gain_i        (gain 0 when muted; volume 50 = unity)
    total          = sum of the contributions of the mixed speakers
    out_j          = total - contribution_j  (j a mixed speaker)
                   = total                   (everyone else: one mix, the same for all)
                   = silence                 (j quiet)

so a conference has at most (mixed speakers + 2) distinct mixes whatever its size, and each
is encoded once for every site that hears it (mcu/media/mix_encoders.py). Which sites are
mixed is chosen by mcu/media/mixed_speakers.py (the loudest few, as professional MCUs do);
without a choice every unmuted site with audio is mixed.

The outgoing SiteAudioTrack hands a site either the Opus packets of its mix (encoded once
per mix) or, for the other codecs, the mix itself as a frame for aiortc's encoder (as stereo
with equal channels, which every encoder's resampler takes at unit gain).
"""

from __future__ import annotations

import asyncio
import collections
import fractions
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

if TYPE_CHECKING:
    from mcu.media.direct_send import PacketOutput

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
UNITY_VOLUME = 50  # mcu.live_conference.DEFAULT_VOLUME: the booked default plays unchanged
FIFO_SECONDS = 0.2
PREBUFFER_FRAMES = 2  # after running dry, wait for 40 ms of audio so playback is not choppy
# A backlog that stands (the least the fifo held after a read, over a whole window of
# reads) beyond this is latency, not jitter: a mixing tick skipped on a busy loop, a burst
# the sender caught up with. It would stay for good (the fifo only drains by running dry)
# and put the site's voice behind its picture; at the end of each window the oldest samples
# of the standing part are dropped, down to STANDING_KEEP_FRAMES.
STANDING_WINDOW_FRAMES = 50  # 1 s of reads
STANDING_MAX_FRAMES = 2
STANDING_KEEP_FRAMES = 1
OUT_BACKLOG = 10


def volume_gain(volume: int) -> float:
    """setConfSiteVolumeEx's 0..100 as a linear gain: 0 silent, 50 unity, 100 doubled."""
    return max(0, min(100, volume)) / UNITY_VOLUME


@dataclass(frozen=True, slots=True)
class MixInput:
    """One site's state for the mix."""

    uri: str
    muted: bool = False
    quiet: bool = False
    volume: int = UNITY_VOLUME


@dataclass(frozen=True, slots=True)
class MixKey:
    """Which mix a site hears: every mixed speaker but `excluded` (None: all of them), or
    silence."""

    excluded: str | None = None
    silence: bool = False


EVERYONE = MixKey()
SILENCE = MixKey(silence=True)
SILENT_FRAME = np.zeros(FRAME_SAMPLES, np.int16)  # what a quiet site hears, shared
SILENT_FRAME.flags.writeable = False
_SILENCE = np.zeros(6 * FRAME_SAMPLES, np.int16)  # up to 120 ms (an Opus packet's most)
_SILENCE.flags.writeable = False


@dataclass(frozen=True)
class MixResult:
    mixes: dict[MixKey, np.ndarray]  # each distinct mix of this frame, int16
    heard_by: dict[str, MixKey]  # uri -> the mix that site hears
    speakers: tuple[str, ...]  # the sites whose audio is in the mix

    def heard(self, uri: str) -> np.ndarray:
        return self.mixes[self.heard_by[uri]]


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
        count = len(mixed)
        # one float32 block: a row per mixed speaker's contribution, the last row the total;
        # every N-1 mix is then the total minus a row, all of them in one subtraction, one
        # saturation and one cast (each mix a row of this frame's own int16 block)
        block = np.empty((count + 1, FRAME_SAMPLES), np.float32)
        for row, site in enumerate(mixed):
            block[row] = frames[site.uri]
        gains = [volume_gain(site.volume) for site in mixed]
        if any(gain != 1.0 for gain in gains):  # unity (the booked default) needs no multiply
            block[:count] *= np.array(gains, np.float32)[:, None]
        total = block[count]
        np.sum(block[:count], axis=0, out=total)
        rows = {site.uri: row for row, site in enumerate(mixed)}
        np.subtract(total, block[:count], out=block[:count])
        np.clip(block, -32768, 32767, out=block)
        samples = block.astype(np.int16)
        everyone = samples[count]
        mixes: dict[MixKey, np.ndarray] = {}
        heard_by: dict[str, MixKey] = {}
        for site in inputs:
            if site.quiet:
                key = SILENCE
                mixes[key] = SILENT_FRAME
            elif site.uri in chosen:
                key = MixKey(site.uri)
                own = rows.get(site.uri)
                # a chosen speaker without a frame this time hears everyone's samples
                mixes[key] = everyone if own is None else samples[own]
            else:
                key = EVERYONE
                mixes[key] = everyone
            heard_by[site.uri] = key
        return MixResult(mixes, heard_by, tuple(rows))


def _to_int16(mix: np.ndarray) -> np.ndarray:
    return np.clip(mix, -32768, 32767).astype(np.int16)


class SampleFifo:
    """A bounded ring of mono int16 samples: decoded audio in, 20 ms frames out. When full,
    the oldest samples go (the sender's clock runs ahead of ours); a backlog that stands a
    whole second beyond STANDING_MAX_FRAMES is cut back (see STANDING_WINDOW_FRAMES).

    Each of those is a cut in what the mix plays of the site, and counted: `underruns`
    (the fifo ran dry while playing: silence until PREBUFFER_FRAMES are in again),
    `samples_overflowed` and `samples_trimmed` (samples dropped unplayed)."""

    def __init__(self, capacity: int = int(SAMPLE_RATE * FIFO_SECONDS)) -> None:
        self._ring = np.zeros(capacity, np.int16)
        self._start = 0
        self._size = 0
        self._primed = False
        self._reads = 0
        self._least_left: int | None = None  # the least held after a read this window
        self.samples_trimmed = 0
        self.samples_overflowed = 0
        self.underruns = 0
        self.written = 0  # samples ever written: the stream position after the newest

    def __len__(self) -> int:
        return self._size

    @property
    def samples_dropped(self) -> int:
        """Samples dropped unplayed: by a full fifo and by the standing-backlog cut."""
        return self.samples_overflowed + self.samples_trimmed

    @property
    def position(self) -> int:
        """The stream position (samples since the first written) of the oldest sample held:
        where the next read starts, whatever overflows and trims dropped before it."""
        return self.written - self._size

    def write(self, samples: np.ndarray) -> None:
        self.written += len(samples)
        capacity = len(self._ring)
        if len(samples) >= capacity:
            self.samples_overflowed += len(samples) - capacity
            samples = samples[-capacity:]
        overflow = self._size + len(samples) - capacity
        if overflow > 0:
            self.samples_overflowed += overflow
            self._start = (self._start + overflow) % capacity
            self._size -= overflow
        end = (self._start + self._size) % capacity
        first = min(len(samples), capacity - end)
        self._ring[end : end + first] = samples[:first]
        self._ring[: len(samples) - first] = samples[first:]
        self._size += len(samples)

    def read_frame(self) -> np.ndarray | None:
        """960 samples, or None while there is not enough audio (then the site is silent)."""
        frame = np.empty(FRAME_SAMPLES, np.int16)
        return frame if self.read_into(frame) else None

    def read_into(self, out: np.ndarray) -> bool:
        """The next 960 samples into `out` (960 int16, e.g. a row of the conference's
        block); False, `out` untouched, while there is not enough audio."""
        if not self._primed:
            if self._size < PREBUFFER_FRAMES * FRAME_SAMPLES:
                return False
            self._primed = True
        if self._size < FRAME_SAMPLES:
            self._primed = False
            self.underruns += 1
            return False
        ring, start = self._ring, self._start
        first = min(FRAME_SAMPLES, len(ring) - start)
        out[:first] = ring[start : start + first]
        if first < FRAME_SAMPLES:
            out[first:] = ring[: FRAME_SAMPLES - first]
        self._start = (start + FRAME_SAMPLES) % len(ring)
        self._size -= FRAME_SAMPLES
        self._trim_standing_backlog()
        return True

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
        # the frames left undecoded still held or ahead: (stream start, end, the mean square
        # their packet stated), oldest first (add_level_only)
        self._stated: collections.deque[tuple[int, int, float]] = collections.deque()
        # the power the frame read last stated, when it was one left undecoded (read_into)
        self.frame_power: float | None = None

    def add_level_only(self, power: float, samples: int = FRAME_SAMPLES) -> None:
        """A frame of `samples` (48 kHz) left undecoded (nobody would hear it,
        mcu/media/inline_audio.py): as much silence in the fifo, so the voice goes on where
        it stands when its frames are decoded again, and the power its packet stated, which
        the mix's choice of speakers and the levels read instead of the silence's when that
        frame is read."""
        self.frames_received += 1
        start = self.fifo.written
        self.fifo.write(_SILENCE[:samples])
        stated = self._stated
        while stated and stated[0][1] <= self.fifo.position:  # gone unread (not mixed)
            stated.popleft()
        stated.append((start, self.fifo.written, power))

    def read_into(self, out: np.ndarray) -> bool:
        """The fifo's next 960 samples into `out` (SampleFifo.read_into); `frame_power` is
        then, when at least half of them are frames left undecoded, the mean of the powers
        stated for those frames weighted by their samples among the 960; None when most are
        decoded audio."""
        start = self.fifo.position
        if not self.fifo.read_into(out):
            return False
        end = start + FRAME_SAMPLES
        stated = self._stated
        while stated and stated[0][1] <= start:  # dropped by a trim or an overflow
            stated.popleft()
        covered, weighted = 0, 0.0
        for first, last, power in stated:
            if first >= end:
                break
            overlap = min(last, end) - max(first, start)
            if overlap > 0:
                covered += overlap
                weighted += overlap * power
        self.frame_power = weighted / covered if 2 * covered >= FRAME_SAMPLES else None
        while stated and stated[0][1] <= end:
            stated.popleft()
        return True

    def add(self, frame: av.AudioFrame) -> None:
        self.frames_received += 1
        if frame.sample_rate == SAMPLE_RATE and frame.format.name == "s16":
            # What the decoders deliver (Opus: 48 kHz s16, mono from MonoOpusDecoder, stereo
            # interleaved from aiortc's): read in place from the frame's plane (the samples,
            # not its padding), and a stereo frame downmixed in numpy, the same samples
            # FFmpeg's resampler gives ((L + R + 1) >> 1), about 30 times cheaper on the
            # event loop than a swresample call per frame.
            channels = frame.layout.nb_channels
            if channels == 1:
                plane = memoryview(frame.planes[0])
                self.fifo.write(np.frombuffer(plane, np.int16, count=frame.samples))
                return
            if channels == 2:
                pairs = np.frombuffer(memoryview(frame.planes[0]), np.int16, count=2 * frame.samples)
                mono = pairs[0::2].astype(np.int32)
                mono += pairs[1::2]
                mono += 1
                mono >>= 1
                self.fifo.write(mono.astype(np.int16))
                return
        source = (frame.sample_rate, frame.layout.name, frame.format.name)
        if self._resampler is None or source != self._resampling:
            # A resampler is set up by its first frame: a call whose codec changes (G.722 to
            # PCMU, 16 to 8 kHz) needs a new one.
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            self._resampling = source
        for converted in self._resampler.resample(frame):
            self.fifo.write(converted.to_ndarray().reshape(-1))


class SiteAudioTrack(MediaStreamTrack):
    """A site's outgoing audio, one 20 ms step per mixing tick: the Opus packets of the mix
    it hears (encoded once per mix, aiortc only packetizes them), or for other codecs the
    mix as a frame that aiortc's encoder for the negotiated codec encodes."""

    kind = "audio"

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri
        self.frames_sent = 0
        # frames for aiortc's encoder, or encoded packets with their mix's level
        self._backlog: collections.deque[av.AudioFrame | tuple[av.Packet, int]] = collections.deque(
            maxlen=OUT_BACKLOG)
        self._ready = asyncio.Event()
        self._pts = 0
        self._output: PacketOutput | None = None

    def push(self, samples: np.ndarray) -> None:
        """The next 20 ms of the mix, for aiortc's encoder."""
        # Sent as stereo with equal channels: aiortc's encoders would upmix a mono frame
        # at -3 dB, so the site would hear the mix 3 dB below unit gain.
        stereo = np.repeat(samples.reshape(-1), 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = AUDIO_TIME_BASE
        self._pts += FRAME_SAMPLES
        self._append(frame)

    def push_packets(self, packets: Sequence[av.Packet], level_dbov: int) -> None:
        """The next 20 ms of the mix, already encoded (Opus); shared with other sites.
        `level_dbov` is the mix's level (rtc/audio_level.samples_level_dbov), which the
        packets state as RFC 6464 says when the call negotiated it. Sent at once when a
        direct sender attached its output (mcu/media/direct_send.py)."""
        output = self._output
        for packet in packets:
            if output is not None:
                self.frames_sent += 1
                output.send(packet, level_dbov)
            else:
                self._append((packet, level_dbov))

    def attach_output(self, output: PacketOutput) -> None:
        """From now on encoded packets go to `output` when pushed; those waiting go first,
        with their mix's level."""
        self._output = output
        while self._backlog and isinstance(waiting := self._backlog[0], tuple):
            self._backlog.popleft()
            self.frames_sent += 1
            output.send(*waiting)

    def detach_output(self, output: PacketOutput) -> None:
        if self._output is output:
            self._output = None

    def _append(self, item: av.AudioFrame | tuple[av.Packet, int]) -> None:
        self._backlog.append(item)
        self._ready.set()

    async def recv(self) -> av.AudioFrame | av.Packet:
        while not self._backlog:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.frames_sent += 1
        item = self._backlog.popleft()
        # an encoded packet: aiortc's loop sends it, without its level
        return item[0] if isinstance(item, tuple) else item

    def stop(self) -> None:
        super().stop()
        self._ready.set()
        if self._output is not None:
            self._output.end()


def full_mix(inputs: Sequence[MixInput], frames: Mapping[str, np.ndarray]) -> np.ndarray:
    """Every unmuted site's frame at its volume, summed (the recorder's audio: what a
    listener outside the conference hears); silence when nobody sends."""
    total = np.zeros(FRAME_SAMPLES, np.float32)
    for site in inputs:
        samples = frames.get(site.uri)
        if samples is not None and not site.muted:
            total += samples.astype(np.float32) * volume_gain(site.volume)
    return _to_int16(total)
