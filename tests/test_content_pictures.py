"""Content in the MCU's pictures: a `uri(%AUX1)` CP pane, the content in the main picture of
a site without a second stream, and content transcoded for receivers whose codec or size
differs from the sender's (mcu/media/content_routes.py).

The conference media is driven as the video loop drives it (plan a tick, render its
pictures, deliver the packets), fed with real document pages (terminals/documents.py) as
the holder's decoded content and real marker cards as the cameras; what the sites receive is
decoded and read back with the terminals' own readers (content marker, camera marker, PSNR
of the page's text region)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from fractions import Fraction

import aiohttp
import av
import numpy as np
import pytest

from app.process import running_server
from gateway.settings import load_settings
from gateway.signalling import SIGNALLING
from mcu.clock import ManualClock
from mcu.events import (
    LayoutChanged,
    PresentationChanged,
    SiteCallStateChanged,
    SpeakerChanged,
)
from mcu.layouts import PaneRect, aux_source_key, layout_mode
from mcu.media.conference_media import ConferenceMedia
from mcu.media.content_format import (
    CONTENT_RATE_SHARE,
    CONTENT_SLIDES_FPS,
    content_format_for,
)
from mcu.media.encoder_group import SiteVideoTrack
from mcu.media.output_format import H264, VP8, OutputFormat
from mcu.media.pictures import CONTENT_WITH_SPEAKER, PictureKey, PictureKind
from mcu.media.site_media import SiteMedia
from mcu.model import (
    ConferenceSpec,
    DialingMode,
    Presentation,
    SiteCallState,
    SiteSpec,
    VideoFormat,
)
from rtc.colour import bgr_picture
from rtc.deadline import within
from rtc.signalling import Capabilities
from terminals.content_receiver import analyse_content
from terminals.documents import DocumentKind, render_page
from terminals.marker import MarkerPainter, read_content_marker, read_marker
from tests.test_media_engine import RED_RGB, PeerTerminal, eventually, near

CONF = "c1"
A, B, C, D, E = "site-a", "site-b", "site-c", "site-d", "site-e"
SITE_INDEX = {A: 1, B: 2, C: 3, D: 4, E: 5}
CP_2_1 = layout_mode("CP_2_1")


class FakeCall:
    def __init__(self, site: SiteSpec) -> None:
        self.conf_id, self.site = CONF, site
        self.state = SiteCallState.IN_CONFERENCE

    @property
    def uri(self) -> str:
        return self.site.uri

    @property
    def active(self) -> bool:
        return True


def camera_frame(uri: str, frame_index: int = 0) -> av.VideoFrame:
    """A camera picture with the site's marker card, as a terminal's camera sends it."""
    bgr = np.full((360, 640, 3), 90, np.uint8)
    MarkerPainter(640, 360).draw(bgr, SITE_INDEX[uri], frame_index)
    return bgr_picture(bgr)


def content_frame(uri: str, frame_index: int = 7,
                  kind: DocumentKind = DocumentKind.RADIOGRAPH) -> av.VideoFrame:
    """The holder's content as the MCU decodes it: a 1080p document page with its marker."""
    return bgr_picture(render_page(kind, SITE_INDEX[uri], 0, 1920, 1080, frame_index))


def conference(sites: dict[str, tuple[str | None, VideoFormat]],
               aux_format: VideoFormat | None = VideoFormat.HD720P30,
               presentation: Presentation = Presentation.FILM) -> ConferenceMedia:
    """sites: uri -> (content codec or None for a single-stream site, booked videoFormat);
    every site's main video is H.264."""
    media = ConferenceMedia(CONF, report_levels=lambda *_: None, executor=ThreadPoolExecutor(1),
                            aux_video_format=aux_format, presentation=presentation)
    for uri, (content_codec, video_format) in sites.items():
        site = SiteMedia(FakeCall(SiteSpec(uri, name=uri, video_format=video_format)))
        site.video_codec = H264
        if content_codec is not None:  # a second stream both ways, as its SDP would settle
            site.content_codec = content_codec
            site.content_send = site.content_receive = True
        site.video_in.put(camera_frame(uri))
        media.add_site(site)
        media.apply(SiteCallStateChanged(CONF, uri, SiteCallState.IN_CONFERENCE))
    return media


def share(media: ConferenceMedia, holder: str | None) -> None:
    media.apply(PresentationChanged(CONF, holder, False))


def tick(media: ConferenceMedia, now: float) -> dict[PictureKey, list[tuple[OutputFormat, list[av.Packet]]]]:
    """One video tick as the loop runs it; the packets of each group, by picture."""
    plan = media.plan_tick(now)
    made: dict[PictureKey, list[tuple[OutputFormat, list[av.Packet]]]] = {}
    for item in plan.items:
        for group, packets in media.render_item(plan, item):
            group.deliver(packets, now)
            made.setdefault(group.key.picture, []).append((group.format, packets))
    return made


def decode(codec: str, packets: list[av.Packet]) -> av.VideoFrame:
    decoder = av.CodecContext.create("h264" if codec == H264 else "libvpx", "r")
    frames = [frame for packet in packets for frame in decoder.decode(packet)]
    frames += list(decoder.decode(None))
    assert frames, "nothing decoded"
    return frames[-1]


def fraction_rect(x: float, y: float, w: float, h: float) -> PaneRect:
    return PaneRect(Fraction(x), Fraction(y), Fraction(w), Fraction(h))


async def drain(track: SiteVideoTrack) -> list[av.Packet]:
    packets = []
    while True:
        try:
            packets.append(await within(track.recv(), 0.05))
        except TimeoutError:
            return packets


# ---------------------------------------------------------------------------- the rules


def test_content_output_follows_aux_format_presentation_and_a_share_of_the_rate():
    site = SiteSpec("x", rate="1920k")
    slides = content_format_for(site, "vp8", aux_format=VideoFormat.HD1080P30,
                                presentation=Presentation.FILM, default_format=VideoFormat.HD720P30)
    assert slides == OutputFormat(VP8, 1920, 1080, CONTENT_SLIDES_FPS,
                                  int(1_920_000 * CONTENT_RATE_SHARE))
    motion = content_format_for(SiteSpec("y"), H264, aux_format=VideoFormat.HD720P60,
                                presentation=Presentation.LIVE_VIDEO, conference_rate="4M",
                                default_format=VideoFormat.HD1080P30)
    assert (motion.size, motion.fps, motion.bitrate) == ((1280, 720), 60, 1_600_000)
    # AUTO: the conference default, but never larger than the site's own screen
    small = content_format_for(SiteSpec("z", video_format=VideoFormat.CIF4), H264,
                               aux_format=VideoFormat.AUTO, presentation=Presentation.FILM,
                               default_format=VideoFormat.HD1080P30)
    assert small.size == (704, 576)
    # no rate anywhere: the format's default at 30 fps, enough for text at 5 fps
    assert slides.bitrate < content_format_for(
        SiteSpec("w"), H264, aux_format=VideoFormat.HD1080P30, presentation=Presentation.FILM,
        default_format=VideoFormat.HD1080P30).bitrate


def test_content_output_follows_a_booking_changed_in_place():
    """Remembered by the booking's values, not by the SiteSpec object."""
    site = SiteSpec("x", rate="1920k")
    first = content_format_for(site, H264, aux_format=VideoFormat.HD1080P30,
                               presentation=Presentation.FILM,
                               default_format=VideoFormat.HD720P30)
    site.rate, site.video_format = "1M", VideoFormat.CIF4
    second = content_format_for(site, H264, aux_format=VideoFormat.HD1080P30,
                                presentation=Presentation.FILM,
                                default_format=VideoFormat.HD720P30)
    assert first.bitrate == int(1_920_000 * CONTENT_RATE_SHARE) and first.size == (1920, 1080)
    assert second.bitrate == int(1_000_000 * CONTENT_RATE_SHARE) and second.size == (704, 576)


async def test_each_receiver_gets_its_route_and_nothing_when_nothing_is_shared():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30),
                        C: (VP8, VideoFormat.HD720P30), D: (H264, VideoFormat.CIF4),
                        E: (None, VideoFormat.HD720P30)})
    assert {uri: media.content_route(uri) for uri in SITE_INDEX} == dict.fromkeys(SITE_INDEX)
    share(media, A)
    assert {uri: media.content_route(uri) for uri in SITE_INDEX} == {
        A: None,  # the sender
        B: "forward",  # same codec and size as A sends
        C: "transcode",  # another codec
        D: "transcode",  # a smaller screen
        E: "main",  # no second stream
    }
    assert media.content_route("nobody") is None
    media.apply(SiteCallStateChanged(CONF, A, SiteCallState.NOT_JOINED))  # the holder left
    assert media.content_route(B) is None and not media.content_decode_wanted
    await media.close()


# ---------------------------------------------------------------------------- CP pane


async def test_an_aux_pane_shows_the_holders_content_and_the_other_pane_a_camera():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30)})
    media.apply(LayoutChanged(CONF, "", CP_2_1.value, (aux_source_key(A), B)))
    assert not media.content_decode_wanted  # nothing shared: the pane stays a placeholder
    share(media, A)
    assert media.content_decode_wanted  # a pane shows A's content: it must be decoded
    media.content_in.put(content_frame(A, frame_index=7))
    made = tick(media, 0.0)
    assert list(made) == [PictureKey(PictureKind.CP, "")]  # forward receivers: no content group
    (output, packets), = made[PictureKey(PictureKind.CP, "")]
    picture = decode(output.codec, packets)
    content_pane, camera_pane = CP_2_1.panes
    reading = read_content_marker(picture, content_pane)
    assert reading is not None
    assert (reading.site_index, reading.kind, reading.page, reading.frame_index) == (
        SITE_INDEX[A], DocumentKind.RADIOGRAPH, 0, 7)
    camera = read_marker(picture, camera_pane)
    assert camera is not None and camera.site_index == SITE_INDEX[B]
    _, quality = analyse_content(picture, content_pane)
    assert quality is not None and quality[0] > 18  # the page's text is there, not a smear
    await media.close()


async def test_an_aux_pane_of_a_site_not_holding_the_floor_shows_the_placeholder():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30)})
    media.apply(LayoutChanged(CONF, "", CP_2_1.value, (aux_source_key(B), A)))
    share(media, A)  # A shares, but the pane asks for B's content
    assert not media.content_decode_wanted
    media.content_in.put(content_frame(A))
    plan = media.plan_tick(0.0)
    assert plan.sources[aux_source_key(A)] is None  # not decoded for nobody
    media.render_item(plan, plan.items[0])
    compositor = next(iter(media._compositors.values()))
    assert compositor.pane_sources == (None, A)
    await media.close()


# ---------------------------------------------------------------------------- main picture


async def test_a_single_stream_site_sees_the_content_large_and_the_speaker_small():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30),
                        C: (None, VideoFormat.HD720P30)})
    share(media, A)
    media.apply(SpeakerChanged(CONF, B))
    media.content_in.put(content_frame(A, frame_index=11, kind=DocumentKind.RECORD))
    made = tick(media, 0.0)
    main = PictureKey(PictureKind.CONTENT_MAIN, A)
    assert media.picture_for(C) == main and media.picture_for(B) == PictureKey(PictureKind.CP, "")
    assert set(made) == {main, PictureKey(PictureKind.CP, "")}
    (output, packets), = made[main]
    picture = decode(output.codec, packets)
    content_pane, speaker_pane = CONTENT_WITH_SPEAKER.panes
    reading = read_content_marker(picture, content_pane)
    assert reading is not None and (reading.site_index, reading.kind, reading.frame_index) == (
        SITE_INDEX[A], DocumentKind.RECORD, 11)
    speaker = read_marker(picture, speaker_pane)
    assert speaker is not None and speaker.site_index == SITE_INDEX[B]
    # the CP picture of the dual-stream sites holds no content
    (cp_output, cp_packets), = made[PictureKey(PictureKind.CP, "")]
    assert read_content_marker(decode(cp_output.codec, cp_packets)) is None
    # the floor released: back to the conference's picture
    share(media, None)
    assert media.picture_for(C) == PictureKey(PictureKind.CP, "")
    tick(media, 1.0)
    assert {key.picture for key in media.groups} == {PictureKey(PictureKind.CP, "")}
    await media.close()


async def test_single_stream_sites_of_one_format_share_one_content_picture_encoder():
    media = conference({A: (H264, VideoFormat.HD720P30), C: (None, VideoFormat.HD720P30),
                        D: (None, VideoFormat.HD720P30), E: (None, VideoFormat.CIF)})
    share(media, A)
    media.content_in.put(content_frame(A))
    tick(media, 0.0)
    main = [group for key, group in media.groups.items()
            if key.picture.kind == PictureKind.CONTENT_MAIN]
    assert sorted(len(group.subscribers) for group in main) == [1, 2]  # C+D, and E (CIF)
    assert all(group.frames_encoded == 1 for group in main)
    await media.close()


# ---------------------------------------------------------------------------- decode cost


async def test_content_is_not_decoded_when_every_receiver_takes_it_forwarded():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30),
                        C: (H264, VideoFormat.HD720P30)})
    share(media, A)
    assert not media.content_decode_wanted
    media.content_in.put(content_frame(A))
    plan = media.plan_tick(0.0)
    assert plan.sources[aux_source_key(A)] is None  # the slot is not even read
    assert {item.picture for item in plan.items} == {PictureKey(PictureKind.CP, "")}
    # a site's own CP picture with A's content makes it wanted; dropping it, unwanted again
    media.apply(LayoutChanged(CONF, B, CP_2_1.value, (aux_source_key(A), C)))
    assert media.content_decode_wanted
    media.apply(LayoutChanged(CONF, B, CP_2_1.value, (A, C)))
    assert not media.content_decode_wanted
    await media.close()


# ---------------------------------------------------------------------------- transcoding


async def test_transcoding_opens_one_group_per_distinct_content_output_and_none_for_forwarding():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (VP8, VideoFormat.HD720P30),
                        C: (VP8, VideoFormat.HD720P30), D: (H264, VideoFormat.CIF4),
                        E: (H264, VideoFormat.HD720P30)})
    share(media, A)
    assert media.content_decode_wanted
    content = PictureKey(PictureKind.CONTENT, A)
    tick(media, 0.0)  # no decoded content yet: the groups exist, nothing is sent
    groups = {key.format: group for key, group in media.groups.items() if key.picture == content}
    assert sorted((fmt.codec, fmt.size, fmt.fps) for fmt in groups) == [
        (H264, (704, 576), CONTENT_SLIDES_FPS), (VP8, (1280, 720), CONTENT_SLIDES_FPS)]
    assert all(group.frames_encoded == 0 for group in groups.values())
    by_codec = {fmt.codec: group for fmt, group in groups.items()}
    assert {track.uri for track in by_codec[VP8].subscribers} == {B, C}
    assert {track.uri for track in by_codec[H264].subscribers} == {D}
    assert media.sites[E].content_out.group is media.content_forwarder  # no encoder of ours
    assert media.sites[A].content_out.group is None  # the sender gets nothing back

    media.content_in.put(content_frame(A, frame_index=3))
    tick(media, 0.5)
    assert all(group.frames_encoded == 1 for group in groups.values())
    assert all(group.encoder_opened == 1 for group in groups.values())
    received = {uri: await drain(media.sites[uri].content_out) for uri in (B, C, D, E)}
    assert received[E] == []
    assert [id(p) for p in received[B]] == [id(p) for p in received[C]]  # one encode for both
    for uri, codec, size in ((B, VP8, (1280, 720)), (D, H264, (704, 576))):
        picture = decode(codec, received[uri])
        assert (picture.width, picture.height) == size
        reading = read_content_marker(picture)
        assert reading is not None and (reading.site_index, reading.frame_index) == (
            SITE_INDEX[A], 3)

    # the floor released: the content groups close and the tracks leave them
    share(media, None)
    tick(media, 1.0)
    assert not any(key.picture.kind == PictureKind.CONTENT for key in media.groups)
    assert all(media.sites[uri].content_out.group is None for uri in (B, C, D))
    await media.close()


async def test_without_content_the_main_picture_groups_are_those_of_before():
    """No regression: content tracks present, nothing shared, the groups are the CP ones."""
    plain = conference({A: (None, VideoFormat.HD720P30), B: (None, VideoFormat.CIF)})
    dual = conference({A: (H264, VideoFormat.HD720P30), B: (VP8, VideoFormat.CIF)})
    for media in (plain, dual):
        tick(media, 0.0)
    assert set(plain.groups) == set(dual.groups)
    assert {key.picture for key in dual.groups} == {PictureKey(PictureKind.CP, "")}
    assert "site-a(%AUX1)" not in dual.plan_tick(0.1).sources
    await plain.close()
    await dual.close()


@pytest.mark.parametrize("holder_has_media", [True, False])
async def test_a_holder_that_is_not_joined_shares_nothing(holder_has_media: bool):
    media = conference({B: (None, VideoFormat.HD720P30)})
    if holder_has_media:  # its call is set up, but it never joined
        media.add_site(SiteMedia(FakeCall(SiteSpec(A, name=A, video_format=VideoFormat.CIF))))
    share(media, A)
    assert media.content_source() is None and media.content_route(B) is None
    assert media.picture_for(B) == PictureKey(PictureKind.CP, "")
    await media.close()


async def test_a_new_holder_never_shows_the_previous_holders_last_page():
    media = conference({A: (H264, VideoFormat.HD720P30), B: (H264, VideoFormat.HD720P30)})
    media.apply(LayoutChanged(CONF, "", CP_2_1.value, (aux_source_key(A), aux_source_key(B))))
    share(media, A)
    media.content_in.put(content_frame(A))
    assert media.plan_tick(0.0).sources[aux_source_key(A)] is not None
    share(media, B)  # B takes the floor: its pane waits for B's own first picture
    plan = media.plan_tick(0.1)
    assert aux_source_key(A) not in plan.sources and plan.sources[aux_source_key(B)] is None
    await media.close()


# ---------------------------------------------------------------------------- end to end


async def test_a_single_stream_terminal_gets_the_content_in_its_main_picture_over_webrtc(
        tmp_path):
    """A real server and two aiortc terminals without a second stream: lockPresentationEx
    gives red the floor; blue's decoded main picture becomes the content (fed into the
    conference's content slot as the content decoder does) with red small beside it, and
    comes back when the floor is released. The booking's auxVideoFormat and presentation
    reach the conference's media."""
    red_uri, blue_uri = "01010086", "01010010"
    clock = ManualClock()
    settings = load_settings(port=0, data_dir=tmp_path)
    async with running_server(settings, clock=clock) as server, aiohttp.ClientSession() as session:
        gateway = server.gateway
        red = PeerTerminal(red_uri, RED_RGB, amplitude=8000,  # a content input, one stream
                           capabilities=Capabilities(content_send=True, content_receive=False))
        blue = PeerTerminal(blue_uri, (30, 30, 220), amplitude=300)
        feeding: asyncio.Task | None = None
        try:
            for terminal in (red, blue):
                await terminal.register(session, server.url("/signalling"))
            await eventually(lambda: red_uri in gateway.runtime.registry
                             and blue_uri in gateway.runtime.registry)
            sites = [SiteSpec(uri, name=uri, video_format=VideoFormat.HD720P30,
                              dialing_mode=DialingMode.SITE_CALLS_IN) for uri in (red_uri, blue_uri)]
            conference = gateway.scheduler.schedule(ConferenceSpec(
                "consult", clock.now(), timedelta(hours=1), sites,
                aux_video_format=VideoFormat.HD720P30, presentation=Presentation.LIVE_VIDEO))
            conf_id = conference.conf_id
            gateway.runtime.reconcile()
            gateway.runtime.lifecycle.connect_sites(conf_id, [red_uri, blue_uri])
            media = server.app[SIGNALLING].engine.conferences[conf_id]
            assert (media.aux_video_format, media.presentation) == (
                VideoFormat.HD720P30, Presentation.LIVE_VIDEO)
            await eventually(lambda: set(media.joined) == {red_uri, blue_uri}
                             and blue.picture is not None, what="both in the conference")

            gateway.runtime.control.lock_presentation(conf_id, red_uri)
            assert media.content_route(blue_uri) == "main" and media.content_decode_wanted
            assert media.picture_for(blue_uri) == PictureKey(PictureKind.CONTENT_MAIN, red_uri)
            assert media.picture_for(red_uri) == PictureKey(PictureKind.CP, "")  # the sender

            async def feed() -> None:  # red's content, as the content decoder hands it over
                frame_index = 0
                while True:
                    media.content_in.put(bgr_picture(render_page(
                        DocumentKind.RADIOGRAPH, 1, 0, 1920, 1080, frame_index)))
                    frame_index = (frame_index + 1) % 50
                    await asyncio.sleep(0.2)

            feeding = asyncio.create_task(feed())
            content_pane, speaker_pane = CONTENT_WITH_SPEAKER.panes

            def blue_sees_content() -> bool:
                reading = read_content_marker(blue.picture, content_pane)
                return reading is not None and reading.site_index == 1

            await eventually(blue_sees_content, what="content in blue's main picture")
            centre = (float(speaker_pane.x + speaker_pane.w / 2),
                      float(speaker_pane.y + speaker_pane.h / 2))
            assert near(blue.colour_at(*centre), RED_RGB)  # the speaker (red) small beside it
            assert read_content_marker(red.picture) is None  # the holder sees no echo of it

            gateway.runtime.devices.set_aux_stream(red_uri, False)  # the floor is released
            assert media.content_route(blue_uri) is None and not media.content_decode_wanted
            await eventually(lambda: read_content_marker(blue.picture) is None,
                             what="blue back to the conference picture")
        finally:
            if feeding is not None:
                feeding.cancel()
            for terminal in (red, blue):
                await terminal.close()
