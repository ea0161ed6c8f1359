"""The media plane: encoder groups (one encoder per distinct output), the N-1 audio mixer,
output formats, and an end-to-end conference of two in-test aiortc peers called through a
real running server, checked on the decoded pictures and the heard audio."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack, VideoStreamTrack

from app.process import running_server
from gateway.settings import SettingsError, load_settings
from gateway.signalling import SIGNALLING
from mcu.clock import ManualClock
from mcu.media.audio_mixer import (
    EVERYONE,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    SILENCE,
    AudioInput,
    AudioMixer,
    MixInput,
    MixKey,
    SampleFifo,
    volume_gain,
)
from mcu.media.conference_media import ConferenceMedia, PictureKey
from mcu.media.encoder_group import KEYFRAME_MIN_INTERVAL_S, EncoderGroup, GroupKey, SiteVideoTrack
from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.mix_encoders import MixEncoders
from mcu.media.mixed_speakers import MISSING_FRAMES_KEPT, MixedSpeakers
from mcu.media.output_format import (
    H264,
    HIGH,
    VP8,
    OutputFormat,
    output_format_for,
    parse_rate,
)
from mcu.media.voice_activity import level_of_power
from mcu.model import (
    ConferenceSpec,
    DialingMode,
    SiteCallState,
    SiteSpec,
    VideoFormat,
    VideoProtocol,
)
from rtc.deadline import within
from rtc.ice import rtc_configuration
from rtc.signalling import Answer, Capabilities, Decline, Join, Pong, Register, Ringing
from terminals.speech import SpeechSynth, talker_levels
from tests.signalling_helpers import send_register

A, B = "01010086", "01010010"
RED_RGB, BLUE_RGB = (220, 30, 30), (30, 30, 220)


# ---------------------------------------------------------------------------- output formats


def test_output_format_follows_booked_format_rate_and_codec():
    site = SiteSpec("1", video_format=VideoFormat.HD720P30, rate="1920k")
    assert output_format_for(site, "h264") == OutputFormat(H264, 1280, 720, 30, 1_920_000)
    auto = SiteSpec("2", video_format=VideoFormat.AUTO)
    chosen = output_format_for(auto, VP8, conference_rate="2M")
    assert (chosen.codec, chosen.size, chosen.fps, chosen.bitrate) == (VP8, (1920, 1080), 30, 2_000_000)
    cif = output_format_for(SiteSpec("3", video_format=VideoFormat.CIF4), H264)
    assert cif.size == (704, 576) and cif.bitrate > 0
    assert output_format_for(SiteSpec("4"), H264, default_format=VideoFormat.HD720P60).fps == 60


def test_output_format_follows_a_booking_changed_in_place():
    """The format is remembered by the booking's values, not by the SiteSpec object: a site
    edited in place (a new rate, format or protocol) is sent its new format."""
    site = SiteSpec("1", video_format=VideoFormat.HD720P30, rate="1920k")
    assert output_format_for(site, H264).bitrate == 1_920_000
    site.rate = "768k"
    assert output_format_for(site, H264).bitrate == 768_000
    site.video_format = VideoFormat.CIF4
    assert output_format_for(site, H264).size == (704, 576)
    site.video_protocol = VideoProtocol.H264_HP
    assert output_format_for(site, H264).profile == HIGH
    assert output_format_for(site, VP8).profile is None


def test_rates_parse_like_the_platform_writes_them():
    assert parse_rate("1920k") == 1_920_000
    assert parse_rate("768") == 768_000
    assert parse_rate("2M") == 2_000_000
    assert parse_rate(None) is None
    assert parse_rate("fast") is None


# ---------------------------------------------------------------------------- encoder groups


class RecordingSender:
    """Stands in for aiortc's RTCRtpSender: reads a site's track like the sender does."""

    def __init__(self, track: SiteVideoTrack) -> None:
        self.track = track
        self.packets: list[av.Packet] = []

    async def drain(self) -> None:
        while True:
            try:
                packet = await within(self.track.recv(), 0.05)
            except TimeoutError:
                return
            self.packets.append(packet)


class FakeCall:
    def __init__(self, conf_id: str, site: SiteSpec) -> None:
        self.conf_id, self.site = conf_id, site
        self.state = SiteCallState.IN_CONFERENCE

    @property
    def uri(self) -> str:
        return self.site.uri

    @property
    def active(self) -> bool:
        return True


def solid_frame(width: int, height: int, rgb: tuple[int, int, int]) -> av.VideoFrame:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    return av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")


def conference_with_sites(formats: dict[str, VideoFormat], codec: str = H264) -> ConferenceMedia:
    from concurrent.futures import ThreadPoolExecutor

    from mcu.events import SiteCallStateChanged
    from mcu.media.site_media import SiteMedia

    media = ConferenceMedia("c1", report_levels=lambda *_: None, executor=ThreadPoolExecutor(1))
    for uri, video_format in formats.items():
        site = SiteMedia(FakeCall("c1", SiteSpec(uri, name=uri, video_format=video_format)))
        site.video_codec = codec
        site.video_in.put(solid_frame(320, 240, (200, 40, 40)))
        media.add_site(site)
        media.apply(SiteCallStateChanged("c1", uri, SiteCallState.IN_CONFERENCE))
    return media


def render(media: ConferenceMedia, plan) -> list:
    """Every picture of a tick's plan, one after the other (the video loop makes them in
    parallel, one worker each)."""
    return [encoded for item in plan.items for encoded in media.render_item(plan, item)]


async def render_ticks(media: ConferenceMedia, ticks: int) -> None:
    for tick in range(ticks):
        plan = media.plan_tick(now=tick / 30)
        for group, packets in render(media, plan):
            group.deliver(packets, tick / 30)


async def test_sites_of_one_format_share_one_encoder_and_another_format_gets_its_own():
    media = conference_with_sites(
        {"s1": VideoFormat.CIF4, "s2": VideoFormat.CIF4, "s3": VideoFormat.CIF}
    )
    senders = {uri: RecordingSender(media.sites[uri].video_out) for uri in ("s1", "s2", "s3")}
    await render_ticks(media, 10)
    await asyncio.gather(*(sender.drain() for sender in senders.values()))

    assert len(media.groups) == 2
    by_size = {group.format.size: group for group in media.groups.values()}
    cif4, cif = by_size[(704, 576)], by_size[(352, 288)]
    assert {track.uri for track in cif4.subscribers} == {"s1", "s2"}
    assert {track.uri for track in cif.subscribers} == {"s3"}
    assert cif4.encoder_opened == cif.encoder_opened == 1
    assert cif4.frames_encoded == cif.frames_encoded == 10  # once per tick, not per site
    # both sites of the group received the very same packet objects
    assert len(senders["s1"].packets) == 10
    assert [id(p) for p in senders["s1"].packets] == [id(p) for p in senders["s2"].packets]
    assert senders["s1"].packets[0].is_keyframe
    assert senders["s3"].packets[0].size < senders["s1"].packets[0].size
    await media.close()


async def test_a_different_picture_is_a_different_group():
    media = conference_with_sites({"s1": VideoFormat.CIF4, "s2": VideoFormat.CIF4})
    from mcu.events import VideoSourceChanged

    media.apply(VideoSourceChanged("c1", "s1", "s2", False))
    await render_ticks(media, 3)
    pictures = {group.key.picture for group in media.groups.values()}
    assert pictures == {PictureKey("site", "s2"), PictureKey("cp", "")}
    media.apply(VideoSourceChanged("c1", "s1", None, False))
    await render_ticks(media, 1)
    assert len(media.groups) == 1
    await media.close()


async def test_keyframe_requests_from_many_receivers_make_one_keyframe():
    media = conference_with_sites({"s1": VideoFormat.CIF, "s2": VideoFormat.CIF})
    await render_ticks(media, 2)
    (group,) = media.groups.values()
    assert group.keyframes_encoded == 1
    # both receivers send PLIs right after the first keyframe: rate-limited, one more
    media.sites["s1"].video_out.request_keyframe()
    media.sites["s2"].video_out.request_keyframe()
    for tick in range(2, 45):  # 1.5 s at 30 fps
        plan = media.plan_tick(now=tick / 30)
        render(media, plan)
    assert group.keyframes_encoded == 2
    await media.close()


def test_group_key_holds_picture_and_format():
    fmt = OutputFormat(H264, 704, 576, 30, 1_000_000)
    group = EncoderGroup(GroupKey(PictureKey("cp", ""), fmt))
    assert group.format is fmt and group.take_keyframe_request(0.0)
    assert not group.take_keyframe_request(0.5)


def test_a_keyframe_request_within_the_interval_waits_for_it_and_no_longer():
    """A receiver's PLI right after a keyframe (its copy of that keyframe lost) is answered
    at the first tick after KEYFRAME_MIN_INTERVAL_S (0.3 s, libwebrtc's), not later."""
    group = EncoderGroup(GroupKey(PictureKey("cp", ""), OutputFormat(H264, 704, 576, 30, 1_000_000)))
    assert KEYFRAME_MIN_INTERVAL_S == 0.3
    assert group.take_keyframe_request(10.0)  # the first frame
    group.request_keyframe()
    assert not group.take_keyframe_request(10.1) and not group.take_keyframe_request(10.29)
    assert group.take_keyframe_request(10.3)
    assert not group.take_keyframe_request(10.7)  # answered: nothing more wanted
    group.request_keyframe()
    assert group.take_keyframe_request(10.7)  # past the interval: at once


def test_a_sites_slot_keeps_only_the_latest_frame_and_counts_the_dropped_ones():
    slot = LatestFrameSlot()
    assert slot.take() is None  # nothing before the first frame: the pane's placeholder
    for index in range(3):
        slot.put(f"frame {index}")
    assert slot.take() == "frame 2"  # the tick gets the newest, never a backlog
    assert slot.frames_received == 3 and slot.frames_replaced_unseen == 2
    assert slot.take() == "frame 2"  # no newer frame: the picture stays, nothing dropped
    slot.put("frame 3")
    assert slot.take() == "frame 3" and slot.frames_replaced_unseen == 2


async def test_a_tick_composes_the_newest_frame_of_a_site_and_drops_the_stale_ones():
    """Frames that arrive faster than the ticks are dropped, never queued: each tick
    composes the newest frame each site has, and a frame older than that is never shown."""
    media = conference_with_sites({A: VideoFormat.CIF4})
    site = media.sites[A]
    for grey in (10, 80, 160):  # three frames between two ticks
        site.video_in.put(solid_frame(320, 240, (grey, grey, grey)))
    plan = media.plan_tick(now=0.0)
    newest = plan.sources[A].to_ndarray(format="rgb24")[0, 0]
    assert abs(int(newest[0]) - 160) <= 2
    assert site.video_in.frames_replaced_unseen == 3  # the set-up frame and two greys
    decoder = av.CodecContext.create("h264", "r")
    pictures = [frame.to_ndarray(format="rgb24") for _, packets in render(media, plan)
                for packet in packets for frame in decoder.decode(packet)]
    pictures += [frame.to_ndarray(format="rgb24") for frame in decoder.decode(None)]
    centre = pictures[-1][pictures[-1].shape[0] // 2, pictures[-1].shape[1] // 2]
    assert abs(int(centre[0]) - 160) <= 8  # the decoded picture shows the newest frame
    await media.close()


# ---------------------------------------------------------------------------- audio mixing


def tone(level: int, samples: int = FRAME_SAMPLES) -> np.ndarray:
    return np.full(samples, level, np.int16)


def speech_like(talker: int, tick: int = 0) -> np.ndarray:
    """The `tick`-th 20 ms frame of a simulated terminal's voice at level 0.5."""
    synth = SpeechSynth(talker, ((1.0, 0.5),))
    if tick:
        synth.next_block_s16(tick * FRAME_SAMPLES)
    return synth.next_block_s16(FRAME_SAMPLES)


def test_every_site_hears_the_others_but_not_itself():
    mixer = AudioMixer()
    sites = [MixInput("a"), MixInput("b"), MixInput("c")]
    result = mixer.mix(sites, {"a": tone(100), "b": tone(20), "c": tone(3)})
    heard = result.heard
    assert heard("a")[0] == 23 and heard("b")[0] == 103 and heard("c")[0] == 120
    assert all(mix.dtype == np.int16 and mix.shape == (FRAME_SAMPLES,)
               for mix in result.mixes.values())
    assert result.heard_by == {uri: MixKey(uri) for uri in "abc"}


def test_muted_site_is_not_mixed_and_quiet_site_hears_silence():
    mixer = AudioMixer()
    sites = [MixInput("a", muted=True), MixInput("b", quiet=True), MixInput("c")]
    result = mixer.mix(sites, {"a": tone(100), "b": tone(20), "c": tone(3)})
    assert result.heard("a")[0] == 23  # a still hears the others
    assert result.heard("b")[0] == 0  # quiet
    assert result.heard("c")[0] == 20  # a muted: c hears only b
    assert result.heard_by["a"] == EVERYONE and result.heard_by["b"] == SILENCE


def test_volume_scales_a_sites_contribution_and_the_mix_saturates():
    mixer = AudioMixer()
    sites = [MixInput("a", volume=100), MixInput("b", volume=25), MixInput("c", volume=0)]
    heard = mixer.mix(sites, {"a": tone(1000), "b": tone(1000), "c": tone(1000)}).heard
    assert heard("c")[0] == 2000 + 500
    assert heard("a")[0] == 500 and heard("b")[0] == 2000
    loud = mixer.mix([MixInput("x"), MixInput("y"), MixInput("z")],
                     {"x": tone(30000), "y": tone(30000)})
    assert loud.heard("z")[0] == 32767
    assert volume_gain(50) == 1.0


def test_a_site_without_audio_contributes_silence():
    result = AudioMixer().mix([MixInput("a"), MixInput("b")], {"a": tone(7)})
    assert result.heard("b")[0] == 7 and result.heard("a")[0] == 0


def test_only_the_chosen_speakers_are_mixed_and_the_others_share_one_mix():
    sites = [MixInput(uri) for uri in "abcdef"]
    frames = {uri: tone(10 ** index) for index, uri in enumerate("abcd")}  # e, f: no audio
    result = AudioMixer().mix(sites, frames, speakers={"c", "d"})
    assert result.speakers == ("c", "d")
    assert result.heard("c")[0] == 1000 and result.heard("d")[0] == 100
    # a and b are not mixed: they hear c + d like e and f, one mix for all four
    assert {result.heard_by[uri] for uri in "abef"} == {EVERYONE}
    assert result.heard("a")[0] == 1100
    assert len(result.mixes) == 3  # c's N-1, d's N-1, everyone's


def test_a_chosen_speaker_without_a_frame_keeps_its_own_mix():
    sites = [MixInput(uri) for uri in "abc"]
    result = AudioMixer().mix(sites, {"a": tone(100), "c": tone(5)}, speakers={"a", "b"})
    assert result.heard_by["b"] == MixKey("b")  # no frame this time: same stream as before
    assert result.heard("b")[0] == 100 and result.heard("c")[0] == 100  # c is not mixed
    assert result.heard("a")[0] == 0


def test_an_audio_input_follows_a_change_of_codec_rate():
    heard = AudioInput()
    for rate in (16_000, 8_000):  # G.722 then G.711 on the same call
        samples = np.full((1, rate // 50), 1000, np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        heard.add(frame)
    assert heard.frames_received == 2 and len(heard.fifo) > 0


async def test_a_picture_that_fails_does_not_keep_the_others_from_their_sites():
    media = conference_with_sites({A: VideoFormat.CIF4, B: VideoFormat.HD720P30})
    real = media.render_item

    def breaks_the_4cif_picture(plan, item):
        if item.size == (704, 576):
            raise RuntimeError("a broken picture")
        return real(plan, item)

    media.render_item = breaks_the_4cif_picture
    media.start()
    try:
        packet = await within(media.sites[B].video_out.recv(), 10)
        assert packet.is_keyframe  # B's 720p picture arrives
        assert media.sites[A].video_out.packets_sent == 0
    finally:
        await media.close()


# ---------------------------------------------------------------------------- mixed speakers


def power(dbfs: float) -> float:
    return 32768.0**2 * 10 ** (dbfs / 10)


def run_frames(speakers: MixedSpeakers, levels: dict[str, float | None],
               frames: int) -> frozenset[str]:
    """`frames` steps at these levels (dBFS); a site at None sends no frame."""
    chosen: frozenset[str] = frozenset()
    for _ in range(frames):
        powers = {uri: power(db) for uri, db in levels.items() if db is not None}
        chosen = speakers.update(powers, list(levels))
    return chosen


def test_the_loudest_sites_are_mixed_up_to_the_limit():
    speakers = MixedSpeakers(limit=4)
    levels = {f"s{index}": -20.0 - 3 * index for index in range(8)}
    assert run_frames(speakers, levels, 20) == {"s0", "s1", "s2", "s3"}


def test_inaudible_sites_are_not_mixed_and_a_pause_keeps_the_place():
    speakers = MixedSpeakers(limit=4, hold_frames=50)
    assert run_frames(speakers, {"a": -20.0, "b": -90.0}, 20) == {"a"}
    # a pauses for 0.6 s: still mixed (no new stream for a pause between words)
    assert run_frames(speakers, {"a": -90.0, "b": -90.0}, 30) == {"a"}
    # it leaves 1 s after its smoothed level fell below -60 dBFS (~0.8 s from -20 dBFS)
    assert run_frames(speakers, {"a": -90.0, "b": -90.0}, 70) == frozenset()


def test_a_new_loud_talker_takes_the_place_of_the_quietest_at_once():
    speakers = MixedSpeakers(limit=2)
    assert run_frames(speakers, {"a": -20.0, "b": -30.0, "c": -40.0}, 20) == {"a", "b"}
    assert run_frames(speakers, {"a": -20.0, "b": -30.0, "c": -10.0}, 10) == {"a", "c"}


def test_two_sites_of_about_the_same_level_do_not_take_turns():
    speakers = MixedSpeakers(limit=1)
    assert run_frames(speakers, {"a": -20.0, "b": -21.0}, 10) == {"a"}
    assert run_frames(speakers, {"a": -21.0, "b": -20.0}, 50) == {"a"}  # 1 dB < hysteresis
    assert run_frames(speakers, {"a": -21.0, "b": -15.0}, 10) == {"b"}


def test_a_talker_whose_frames_are_late_keeps_its_place_until_it_is_gone():
    """Frames missing for a jitter burst (0.3 s) do not let a quieter site take the place
    (counted as silence, B's level fell below C's in 12 frames); a site gone for longer than
    MISSING_FRAMES_KEPT is counted silent and a louder one takes its place."""
    speakers = MixedSpeakers(limit=2)
    assert run_frames(speakers, {"a": -20.0, "b": -26.0, "c": -34.0}, 20) == {"a", "b"}
    assert run_frames(speakers, {"a": -20.0, "b": None, "c": -34.0}, 15) == {"a", "b"}
    assert run_frames(speakers, {"a": -20.0, "b": -26.0, "c": -34.0}, 5) == {"a", "b"}
    assert run_frames(speakers, {"a": -20.0, "b": None, "c": -34.0},
                      MISSING_FRAMES_KEPT) == {"a", "b"}  # its level kept all that time
    assert run_frames(speakers, {"a": -20.0, "b": None, "c": -34.0}, 15) == {"a", "c"}


def test_a_muted_site_leaves_the_mix_at_once():
    speakers = MixedSpeakers(limit=4)
    run_frames(speakers, {"a": -20.0, "b": -20.0}, 5)
    assert speakers.update({"a": power(-20.0), "b": power(-20.0)}, ["b"]) == {"b"}


# ---------------------------------------------------------------------------- mix encoders


def test_each_distinct_mix_is_encoded_once_for_all_its_listeners():
    sites = [MixInput(uri) for uri in "abcdef"]
    frames = {uri: speech_like(index) for index, uri in enumerate("abcdef")}
    result = AudioMixer().mix(sites, frames, speakers={"a", "b"})
    encoders = MixEncoders()
    packets = encoders.encode(result, "abcdef", tick=7)
    assert set(packets) == {MixKey("a"), MixKey("b"), EVERYONE}
    assert len(encoders) == 3 and encoders.frames_encoded == 3
    assert all(packet.pts == 7 * FRAME_SAMPLES for packets_ in packets.values()
               for packet in packets_)
    # listeners on another codec need no Opus encoder of their mix
    assert set(MixEncoders().encode(result, "ab", tick=0)) == {MixKey("a"), MixKey("b")}


def test_the_packets_of_a_mix_decode_to_that_mix():
    sites = [MixInput("a"), MixInput("b"), MixInput("c")]
    encoders = MixEncoders()
    decoder = av.CodecContext.create("libopus", "r")
    decoded = []
    for tick in range(50):
        frames = {"a": speech_like(0, tick), "b": speech_like(1, tick), "c": speech_like(2, tick)}
        result = AudioMixer().mix(sites, frames)
        for packet in encoders.encode(result, ["c"], tick)[MixKey("c")]:
            # the decoder plays the mono stream on both channels (interleaved s16)
            decoded += [frame.to_ndarray().reshape(-1, 2)[:, 0] for frame in decoder.decode(packet)]
    samples = np.concatenate(decoded)[-SAMPLE_RATE:]
    levels = talker_levels(samples, [0, 1, 2])
    assert levels[0] == pytest.approx(0.5, rel=0.15) and levels[1] == pytest.approx(0.5, rel=0.15)
    assert levels[2] < 0.05  # c does not hear itself


def test_a_mix_heard_again_after_a_gap_gets_a_new_encoder():
    sites = [MixInput("a"), MixInput("b")]
    frames = {"a": speech_like(0), "b": speech_like(1)}
    encoders = MixEncoders()
    both = AudioMixer().mix(sites, frames)
    encoders.encode(both, "ab", tick=0)
    encoders.encode(both, "ab", tick=1)
    assert encoders.encoders_opened == 2  # one per mix, kept from frame to frame
    only_a = AudioMixer().mix(sites, frames, speakers={"a"})
    for tick in range(2, 10):  # b pauses: it hears everyone's mix
        encoders.encode(only_a, "ab", tick)
    assert encoders.encoders_opened == 3
    encoders.encode(both, "ab", tick=10)  # b talks again: its N-1 mix restarts clean
    assert encoders.encoders_opened == 4


def test_an_encoder_nobody_hears_is_retired():
    sites = [MixInput("a"), MixInput("b")]
    encoders = MixEncoders()
    frames = {"a": speech_like(0), "b": speech_like(1)}
    encoders.encode(AudioMixer().mix(sites, frames), "ab", tick=0)
    assert len(encoders) == 2
    only_a = AudioMixer().mix(sites, frames, speakers={"a"})  # b now hears everyone's mix
    for tick in range(1, 4):
        encoders.encode(only_a, "ab", tick)
    assert len(encoders) == 2  # MixKey("a") and EVERYONE; MixKey("b") retired


def test_inline_audio_decoder_decodes_on_put_and_passes_the_stop_on():
    from aiortc import RTCRtpCodecParameters
    from aiortc.jitterbuffer import JitterFrame

    from mcu.media.inline_audio import InlineAudioDecoder
    from rtc.opus_packets import OpusPacketEncoder

    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                 payloadType=111)
    frames: list[av.AudioFrame] = []
    decoder = InlineAudioDecoder(frames.append)
    encoder = OpusPacketEncoder()
    for tick in range(50):
        for packet in encoder.encode(speech_like(5, tick), tick * FRAME_SAMPLES):
            decoder.put((opus, JitterFrame(bytes(packet), tick * FRAME_SAMPLES)))
    assert decoder.frames_decoded == len(frames) == 50 and decoder.empty()  # none for a thread
    # Opus decoded to mono, the mix's layout (rtc/opus_packets.MonoOpusDecoder)
    assert {(frame.layout.name, frame.sample_rate, frame.format.name) for frame in frames} == {
        ("mono", SAMPLE_RATE, "s16")}
    voice = np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames])
    assert talker_levels(voice[-SAMPLE_RATE // 2:], [5])[5] == pytest.approx(0.5, rel=0.15)
    decoder.put((opus, JitterFrame(b"\xff\xff\xff", 0)))  # not Opus: skipped, counted
    assert decoder.decode_errors + decoder.frames_decoded >= 50
    decoder.put(None)  # the receiver stopping: its decoder thread must get it
    assert decoder.get_nowait() is None


def test_an_inline_audio_frame_that_cannot_be_mixed_is_skipped_not_raised():
    from aiortc import RTCRtpCodecParameters
    from aiortc.jitterbuffer import JitterFrame

    from mcu.media.inline_audio import InlineAudioDecoder
    from rtc.opus_packets import OpusPacketEncoder

    def refuses(frame):
        raise ValueError("the mix input cannot take this frame")

    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                 payloadType=111)
    decoder = InlineAudioDecoder(refuses)
    (packet,) = OpusPacketEncoder().encode(speech_like(1), 0)
    decoder.put((opus, JitterFrame(bytes(packet), 0)))  # raises nothing into aiortc
    assert decoder.decode_errors == 1


@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_audio_input_downmixes_48k_s16_exactly_like_ffmpegs_resampler(layout):
    rng = np.random.default_rng(7)
    channels = 2 if layout == "stereo" else 1
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    fast = AudioInput()
    expected = []
    for index in range(3):
        samples = rng.integers(-32768, 32767, (1, FRAME_SAMPLES * channels), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
        frame.sample_rate, frame.pts = 48_000, index * FRAME_SAMPLES
        expected += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        fast.add(frame)
    expected_samples = np.concatenate(expected)
    got = np.concatenate([fast.fifo.read_frame() for _ in range(3)])
    assert np.array_equal(got, expected_samples)


def test_sample_fifo_prebuffers_and_drops_the_oldest_when_full():
    fifo = SampleFifo(capacity=4 * FRAME_SAMPLES)
    fifo.write(tone(1))
    assert fifo.read_frame() is None  # waits for two frames
    fifo.write(tone(2))
    assert fifo.read_frame()[0] == 1 and fifo.read_frame()[0] == 2
    for value in range(3, 9):
        fifo.write(tone(value))
    assert len(fifo) == 4 * FRAME_SAMPLES
    assert fifo.read_frame()[0] == 5  # 3 and 4 were dropped


def test_levels_follow_loudness_on_the_switch_gate_scale():
    assert level_of_power(0.0) == 0
    speech = 0.1 * 32768  # -20 dBFS
    assert 60 <= level_of_power(speech**2) <= 70
    assert level_of_power(32767.0**2) == 100
    assert level_of_power(10.0**2) < 15  # background noise stays under the default gate


# ---------------------------------------------------------------------------- end to end


class SolidColourCamera(VideoStreamTrack):
    """A camera that films one colour, 320x240 at aiortc's pacing."""

    def __init__(self, rgb: tuple[int, int, int]) -> None:
        super().__init__()
        self._frame = solid_frame(320, 240, rgb)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._frame.pts, self._frame.time_base = pts, time_base
        return self._frame


class ToneMicrophone(AudioStreamTrack):
    """A steady tone at a given amplitude, 48 kHz mono in 20 ms frames."""

    def __init__(self, amplitude: int) -> None:
        super().__init__()
        self._amplitude = amplitude

    async def recv(self) -> av.AudioFrame:
        silent = await super().recv()  # paced, with pts
        t = np.arange(silent.samples) / silent.sample_rate
        samples = (self._amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = silent.sample_rate, silent.pts, silent.time_base
        return frame


@dataclass
class PeerTerminal:
    """A minimal terminal: registers over the WebSocket, answers invites with aiortc, keeps
    the latest decoded picture and the energy of the audio it hears."""

    uri: str
    rgb: tuple[int, int, int] = (128, 128, 128)
    amplitude: int = 1000
    declines: bool = False  # answer invites with `decline`
    silent: bool = False  # stop answering pings (a hung process)
    # one video stream each way: it shows no content as a second stream
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(content_receive=False))
    ws: aiohttp.ClientWebSocketResponse | None = None
    pc: RTCPeerConnection | None = None
    picture: av.VideoFrame | None = None
    video_frames: int = 0
    audio_energy: list[float] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def register(self, session: aiohttp.ClientSession, url: str) -> None:
        self.ws = await session.ws_connect(url)
        await send_register(
            self.ws, Register(self.uri, f"site {self.uri}", capabilities=self.capabilities))
        self.tasks.append(asyncio.create_task(self._read()))

    async def _read(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame.data)
            self.received.append(message["type"])
            self.messages.append(message)
            if message["type"] == "ping" and not self.silent:
                await self.ws.send_str(Pong(message["seq"]).to_json())
            elif message["type"] == "invite":
                await self._answer(message)
            elif message["type"] == "joined":
                await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "answer"))

    async def _answer(self, invite: dict) -> None:
        await self.ws.send_str(Ringing(invite["call_id"]).to_json())
        if self.declines:
            await self.ws.send_str(Decline(invite["call_id"], "busy in surgery").to_json())
            return
        pc = self._new_peer_connection()
        await pc.setRemoteDescription(RTCSessionDescription(invite["sdp"], "offer"))
        pc.addTrack(ToneMicrophone(self.amplitude))
        pc.addTrack(SolidColourCamera(self.rgb))
        if not self.capabilities.content_receive:  # one video stream: the content m-line off
            for transceiver in pc.getTransceivers()[2:]:
                transceiver.direction = "inactive"
        await pc.setLocalDescription(await pc.createAnswer())
        await self.ws.send_str(Answer(invite["call_id"], pc.localDescription.sdp).to_json())

    async def dial_in(self, access_code: str, password: str, call_id: str = "dial-in-1") -> None:
        pc = self._new_peer_connection()
        pc.addTransceiver(ToneMicrophone(self.amplitude), direction="sendrecv")
        pc.addTransceiver(SolidColourCamera(self.rgb), direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        join = Join(call_id, access_code, password, pc.localDescription.sdp)
        await self.ws.send_str(join.to_json())

    def _new_peer_connection(self) -> RTCPeerConnection:
        self.pc = pc = RTCPeerConnection(rtc_configuration())
        pc.on("track", self._on_track)
        return pc

    def _on_track(self, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.create_task(self._consume(track)))

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if track.kind == "video":
                self.picture = frame
                self.video_frames += 1
            else:
                samples = frame.to_ndarray().astype(np.float64)
                self.audio_energy.append(float(np.sqrt(np.mean(samples**2))))

    def colour_at(self, x_fraction: float, y_fraction: float) -> tuple[int, int, int]:
        image = self.picture.to_ndarray(format="rgb24")
        h, w, _ = image.shape
        patch = image[int(h * y_fraction) - 4 : int(h * y_fraction) + 4,
                      int(w * x_fraction) - 4 : int(w * x_fraction) + 4]
        return tuple(int(v) for v in patch.reshape(-1, 3).mean(axis=0))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        if self.ws is not None:
            await self.ws.close()


def near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


async def eventually(predicate, timeout: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def media_server(tmp_path: Path) -> AsyncIterator:
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path)
    async with running_server(settings, clock=clock) as server:
        yield server, clock


async def test_the_number_of_mixed_speakers_is_a_setting(tmp_path: Path):
    config = tmp_path / "mcu.toml"
    config.write_text("[mcu]\nmixed_speakers = 2\n", "utf-8")
    settings = load_settings(config, port=0, data_dir=tmp_path)
    assert settings.mixed_speakers == 2
    async with running_server(settings) as server:
        assert server.app[SIGNALLING].engine.settings.mixed_speakers == 2
    config.write_text("[mcu]\nmixed_speakers = 0\n", "utf-8")
    with pytest.raises(SettingsError, match="mixed_speakers"):
        load_settings(config)


async def test_two_terminals_see_each_other_in_cp_2_1_and_hear_each_other(media_server):
    server, clock = media_server
    gateway = server.gateway
    red = PeerTerminal(A, RED_RGB, amplitude=8000)
    blue = PeerTerminal(B, BLUE_RGB, amplitude=2000)
    async with aiohttp.ClientSession() as session:
        try:
            for terminal in (red, blue):
                await terminal.register(session, server.url("/signalling"))
            await eventually(lambda: A in gateway.runtime.registry and B in gateway.runtime.registry,
                             what="registration")
            sites = [
                SiteSpec(uri, name=f"site {uri}", video_format=VideoFormat.CIF4,
                         dialing_mode=DialingMode.SITE_CALLS_IN)
                for uri in (A, B)
            ]
            conference = gateway.scheduler.schedule(
                ConferenceSpec("consult", clock.now(), timedelta(hours=1), sites, cp_resource=4)
            )
            conf_id = conference.conf_id
            gateway.runtime.reconcile()
            assert gateway.runtime.lifecycle.connect_sites(conf_id, [A, B]) == [A, B]
            gateway.runtime.control.set_continuous_presence(conf_id, "0", 2, [A, B])  # CP_2_1

            def in_conference() -> bool:
                states = {s.uri: s.state for s in gateway.runtime.status.site_statuses(conf_id)}
                return states == {A: SiteCallState.IN_CONFERENCE, B: SiteCallState.IN_CONFERENCE}

            await eventually(in_conference, what="both sites in conference")
            assert red.received.count("invite") == blue.received.count("invite") == 1

            def shows_both(terminal: PeerTerminal) -> bool:
                return (
                    terminal.picture is not None
                    and near(terminal.colour_at(0.25, 0.5), RED_RGB)
                    and near(terminal.colour_at(0.75, 0.5), BLUE_RGB)
                )

            await eventually(lambda: shows_both(red) and shows_both(blue), what="CP_2_1 pictures")
            assert (red.picture.width, red.picture.height) == (704, 576)
            # CP_2_1 leaves the top and bottom quarters empty (background)
            assert max(red.colour_at(0.5, 0.1)) < 40

            # N-1 audio: each hears the other's tone, the loud one is heard louder
            await eventually(lambda: len(red.audio_energy) > 50 and len(blue.audio_energy) > 50,
                             what="audio")
            await asyncio.sleep(0.5)
            heard_by_red = np.mean(red.audio_energy[-20:])
            heard_by_blue = np.mean(blue.audio_energy[-20:])
            assert heard_by_red > 200 and heard_by_blue > 1000
            assert heard_by_blue > 2 * heard_by_red

            media = server.app[SIGNALLING].engine.conferences[conf_id]
            assert len(media.groups) == 1  # same picture, same format: one encoder

            # muting the loud site: the other one hears (almost) nothing
            gateway.runtime.control.set_sites_mute(conf_id, [A], True)
            await asyncio.sleep(1.0)
            assert np.mean(blue.audio_energy[-10:]) < 100

            # ending the conference hangs up both
            gateway.runtime.lifecycle.disconnect_sites(conf_id, [A, B])
            await eventually(lambda: "bye" in red.received and "bye" in blue.received, what="bye")
        finally:
            for terminal in (red, blue):
                await terminal.close()


async def two_terminals_in_conference(server, clock, session, **spec_fields):
    gateway = server.gateway
    red = PeerTerminal(A, RED_RGB, amplitude=8000)
    blue = PeerTerminal(B, BLUE_RGB, amplitude=300)
    for terminal in (red, blue):
        await terminal.register(session, server.url("/signalling"))
    await eventually(lambda: A in gateway.runtime.registry and B in gateway.runtime.registry)
    sites = [
        SiteSpec(uri, name=f"site {uri}", video_format=VideoFormat.CIF,
                 dialing_mode=DialingMode.SITE_CALLS_IN)
        for uri in (A, B)
    ]
    conference = gateway.scheduler.schedule(
        ConferenceSpec("consult", clock.now(), timedelta(hours=1), sites, **spec_fields)
    )
    gateway.runtime.reconcile()
    gateway.runtime.lifecycle.connect_sites(conference.conf_id, [A, B])
    both = {A: SiteCallState.IN_CONFERENCE, B: SiteCallState.IN_CONFERENCE}
    await eventually(
        lambda: {s.uri: s.state for s in gateway.runtime.status.site_statuses(conference.conf_id)} == both
    )
    return conference.conf_id, red, blue


def full_screen(terminal: PeerTerminal, rgb: tuple[int, int, int]) -> bool:
    return terminal.picture is not None and all(
        near(terminal.colour_at(x, y), rgb) for x, y in ((0.1, 0.1), (0.5, 0.5), (0.9, 0.9))
    )


def count_level_reports(runtime) -> list[object]:
    """Every level report the media engine makes to the runtime from now on (install before
    the conference starts: its media takes the runtime's intake when it starts)."""
    reports: list[object] = []
    intake = runtime.voice.report_audio_levels

    def counted(conf_id, levels):
        reports.append(levels)
        return intake(conf_id, levels)

    runtime.voice.report_audio_levels = counted
    return reports


async def red_waits_to_speak(runtime, conf_id: str) -> None:
    """Red (far louder) is the loudest site, waiting out the hold on the server's clock."""
    await eventually(lambda: runtime.voice.candidate(conf_id) == A, what="red loudest")


async def test_video_source_broadcast_and_voice_switched_cp_none(media_server):
    server, clock = media_server
    runtime = server.gateway.runtime
    runtime.voice.speaker_hold = 0.3
    async with aiohttp.ClientSession() as session:
        conf_id, red, blue = await two_terminals_in_conference(server, clock, session)
        try:
            # setVideoSourceEx: red watches blue full screen, blue is unaffected
            runtime.control.set_video_source(conf_id, A, B)
            await eventually(lambda: full_screen(red, BLUE_RGB), what="red watches blue")
            media = server.app[SIGNALLING].engine.conferences[conf_id]
            assert media.picture_for(A) == PictureKey("site", B)
            assert media.picture_for(B) == PictureKey("cp", "")
            runtime.control.set_video_source(conf_id, A, A)
            await eventually(lambda: full_screen(red, RED_RGB), what="red watches itself")
            runtime.control.set_video_source(conf_id, A, B)

            # broadcast red: blue sees red; red keeps its video source (blue)
            runtime.control.set_broadcast_site(conf_id, A, True)
            await eventually(lambda: full_screen(blue, RED_RGB), what="blue sees the broadcast")
            await eventually(lambda: full_screen(red, BLUE_RGB), what="red keeps its source")
            runtime.control.set_broadcast_site(conf_id, A, False)

            # CP_None with voice switching: red talks louder and becomes the speaker after the
            # hold time (on the server's clock); the picture of everyone without a video
            # source is red full screen
            runtime.control.set_audio_switch(conf_id, True, 20)
            await red_waits_to_speak(runtime, conf_id)
            clock.advance(timedelta(seconds=0.5))
            await eventually(lambda: runtime.status.conference_status(conf_id).speaking == A,
                             what="red speaking")
            await eventually(lambda: full_screen(blue, RED_RGB), what="speaker full screen")
            assert media.last_levels[A] > media.last_levels[B]
        finally:
            for terminal in (red, blue):
                await terminal.close()


async def test_voice_switching_waits_for_the_hold_time(media_server):
    server, clock = media_server
    runtime = server.gateway.runtime
    runtime.voice.speaker_hold = 2.0
    reports = count_level_reports(runtime)
    async with aiohttp.ClientSession() as session:
        conf_id, red, blue = await two_terminals_in_conference(server, clock, session)
        try:
            runtime.control.set_audio_switch(conf_id, True, 20)
            await red_waits_to_speak(runtime, conf_id)
            # red is far louder, but not yet for the hold time: reports keep coming, and
            # nobody is speaking
            clock.advance(timedelta(seconds=1.5))
            seen = len(reports)
            await eventually(lambda: len(reports) >= seen + 3, what="more level reports")
            assert runtime.status.conference_status(conf_id).speaking is None
            clock.advance(timedelta(seconds=0.5))
            await eventually(lambda: runtime.status.conference_status(conf_id).speaking == A)
        finally:
            for terminal in (red, blue):
                await terminal.close()
