"""A conference's audio step: every 20 ms, the N-1 mix of its joined sites and their levels.

ConferenceAudio is owned by a ConferenceMedia (its `audio`) and reads the conference's
mirror (joined sites, mute/quiet/volume, the outputs, the cascade role). Each step takes one
frame from each site's fifo, chooses the loudest few sites (mcu/media/mixed_speakers.py),
mixes N-1 (mcu/media/audio_mixer.py), encodes each distinct mix once for the Opus sites that
hear it (mcu/media/mix_encoders.py; the others get it as a frame for aiortc's encoder), gives
the full mix to the recording, the live broadcast and the viewers
(mcu/media/conference_outputs.py) and meters the levels, reported to the runtime every
LEVEL_REPORT_FRAMES steps (voice-activated switching).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from mcu.media.audio_mixer import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AudioMixer,
    MixInput,
    MixResult,
    volume_gain,
)
from mcu.media.conference_outputs import hear_outputs
from mcu.media.mix_encoders import MixEncoders
from mcu.media.mixed_speakers import SILENCE_FLOOR, MixedSpeakers
from mcu.media.voice_activity import LevelMeter, mean_squares, power_of_level
from rtc.audio_level import samples_level_dbov
from rtc.codec_preferences import OPUS

if TYPE_CHECKING:
    from mcu.media.conference_media import ConferenceMedia

log = logging.getLogger(__name__)

LEVEL_REPORT_FRAMES = 5  # report levels to the runtime every 100 ms
MIX_WAIT_SMOOTHING = 0.05  # per 20 ms step: the fifo wait followed over about 0.4 s


class ConferenceAudio:
    def __init__(self, conference: ConferenceMedia,
                 report_levels: Callable[[str, Mapping[str, float]], object],
                 mixed_speakers: int) -> None:
        self._conference = conference
        self._report_levels = report_levels
        self._mixer = AudioMixer()
        self._speakers = MixedSpeakers(mixed_speakers)
        self.mixed_speakers: frozenset[str] = frozenset()
        self.mix_encoders = MixEncoders()
        self.last_levels: dict[str, int] = {}
        self._tick = 0
        self._steps = 0
        # how long the mixed samples waited in the sites' fifos (s, smoothed): the full mix's
        # capture time for the recording and the broadcast is its mixing time minus this
        self.mix_wait_s = 0.0
        self._meter = LevelMeter()
        self._block = np.empty((0, FRAME_SAMPLES), np.int16)  # grows with the conference

    def _block_of(self, sites: int) -> np.ndarray:
        if len(self._block) < sites:
            self._block = np.empty((max(sites, 2 * len(self._block)), FRAME_SAMPLES), np.int16)
        return self._block

    def mix_once(self) -> MixResult | None:
        """One 20 ms step: take a frame from every joined site, choose the mixed speakers,
        mix N-1, encode each distinct mix once, queue the result on the outgoing tracks,
        meter the levels."""
        conference = self._conference
        sites = conference.sites
        participants = [uri for uri in conference.joined if uri in sites]
        if not participants:
            return None
        # every site's frame read straight into a row of one int16 block the step keeps
        # (the rows are this step's only: nothing holds a frame past the step)
        block = self._block_of(len(participants))
        heard: list[str] = []
        waited = 0
        for uri in participants:
            audio_in = sites[uri].audio_in
            if audio_in.read_into(block[len(heard)]):
                heard.append(uri)
                waited += len(audio_in.fifo)
        if heard:
            # the frame just read arrived about as long ago as the samples behind it last
            waited_s = waited / len(heard) / SAMPLE_RATE
            self.mix_wait_s += MIX_WAIT_SMOOTHING * (waited_s - self.mix_wait_s)
        frames = {uri: block[row] for row, uri in enumerate(heard)}
        inputs = []
        for uri in participants:
            control = conference._control(uri)
            inputs.append(MixInput(uri, control.muted, control.quiet, control.volume))
        powers = mean_squares(block[: len(heard)]) if heard else None
        if powers is not None:
            for row, uri in enumerate(heard):
                stated = sites[uri].audio_in.frame_power
                if stated is not None:  # left undecoded: the level its packet stated
                    powers[row] = stated
        eligible = [site.uri for site in inputs if not site.muted]
        speakers = self._speakers.update(
            dict(zip(heard, powers.tolist(), strict=True)) if powers is not None else {},
            eligible)
        self.mixed_speakers = speakers
        result = self._mixer.mix(inputs, frames, speakers)
        hear_outputs(conference, inputs, frames, result, self.mix_wait_s)
        opus_sites = {uri for uri in participants if sites[uri].audio_codec == OPUS}
        packets = self.mix_encoders.encode(result, opus_sites, self._tick)
        levels = {key: samples_level_dbov(result.mixes[key]) for key in packets}
        self._tick += 1
        for uri in participants:
            key = result.heard_by[uri]
            if uri in opus_sites:
                sites[uri].audio_out.push_packets(packets[key], levels[key])
            else:
                sites[uri].audio_out.push(result.mixes[key])
        if powers is not None:
            self._meter.add(heard, powers)
        return result

    def decodes(self, uri: str, level_dbov: int) -> bool:
        """Would anyone hear a frame of `uri` whose packet states `level_dbov` (RFC 6464)?
        Not when the site is muted or at volume 0. When the recording, the live broadcast or
        a conference-view viewer takes the full mix (every unmuted site at its volume), or
        the site is a mixed speaker: when the level at the site's volume is above
        audibility (SILENCE_FLOOR, -60 dBov). Otherwise: when the site may become a mixed
        speaker (MixedSpeakers.may_be_mixed, which chooses by the levels as sent). A frame
        nobody would hear is left undecoded (mcu/media/inline_audio.py)."""
        conference = self._conference
        control = conference._control(uri)
        gain = volume_gain(control.volume)
        if control.muted or gain <= 0:
            return False
        power = power_of_level(level_dbov)
        if uri in self._speakers.mixed or conference.recording is not None \
                or conference.live is not None or any(
                    viewer.viewpoint.site is None for viewer in conference.viewers.values()):
            return power * gain * gain > SILENCE_FLOOR
        return self._speakers.may_be_mixed(uri, power)

    def report_levels(self) -> None:
        conference = self._conference
        levels = self._meter.take_levels()
        for uri in conference.joined:
            levels.setdefault(uri, 0)
        self.last_levels = levels
        if conference.role is not None:  # a cascade: the other engine's sites, or the link
            levels = conference.role.levels(levels)
        if levels:
            self._report_levels(conference.conf_id, levels)

    async def step(self) -> None:
        """One 20 ms step, and the levels to the runtime every LEVEL_REPORT_FRAMES steps."""
        self._conference.mix_once()
        self._steps += 1
        if self._steps % LEVEL_REPORT_FRAMES == 0:
            try:
                self._conference.report_levels()
            except Exception:  # the conference may have ended between two ticks
                log.debug("level report for %s refused", self._conference.conf_id,
                          exc_info=True)
