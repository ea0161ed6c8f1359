"""The content source: deterministic pages, the content marker (never confused with the
camera's), the pre-encoded page loops as a track that sends only while started, PLI, and
the sharpness figure that tells a good encode from a bad one."""

from __future__ import annotations

import asyncio
import time

import av
import cv2
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from rtc.deadline import within
from terminals.aux_input_page import InputPage
from terminals.content_receiver import ContentReceiver, analyse_content
from terminals.content_source import (
    ContentSource,
    ContentTrack,
    Presentation,
    content_format,
    content_frame_key,
)
from terminals.documents import DocumentKind, PageId, render_page
from terminals.frame_counter import is_keyframe as is_keyframe_packet
from terminals.input_pictures import read_input_tags
from terminals.marker import ContentReading, read_content_marker, read_marker
from terminals.media_sources import decode_packets
from terminals.scene import CameraScene
from terminals.send_log import SendLog

KINDS = list(DocumentKind)


def test_pages_are_a_function_of_kind_site_page_and_size():
    for kind in KINDS:
        first = render_page(kind, 4, 1, 1280, 720, frame_index=3)
        again = render_page(kind, 4, 1, 1280, 720, frame_index=3)
        assert np.array_equal(first, again)
        assert not np.array_equal(first, render_page(kind, 5, 1, 1280, 720, frame_index=3))
        assert not np.array_equal(first, render_page(kind, 4, 2, 1280, 720, frame_index=3))
    with pytest.raises(ValueError):
        render_page(DocumentKind.RECORD, 0, 0, 2560, 1440)
    with pytest.raises(ValueError):
        render_page(DocumentKind.RECORD, 0, 4, 640, 360)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shown", [(1920, 1080), (960, 540), (480, 270)],
                         ids=["1080p", "CP_2_1-pane", "480x270-pane"])
def test_content_marker_read_back_at_full_size_and_in_panes(kind, shown):
    for site, page, frame in ((0, 0, 0), (9, 2, 60), (63, 1, 17)):
        picture = render_page(kind, site, page, 1920, 1080, frame_index=frame)
        if shown != (1920, 1080):
            picture = cv2.resize(picture, shown, interpolation=cv2.INTER_AREA)
        assert read_content_marker(picture) == ContentReading(site, int(kind), page, frame)


def test_content_marker_read_in_a_pane_of_a_composite():
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[270:810, :960] = cv2.resize(render_page(DocumentKind.RECORD, 7, 1, 1920, 1080, 5),
                                       (960, 540), interpolation=cv2.INTER_AREA)
    canvas[270:810, 960:] = cv2.resize(CameraScene(7, "Site 7", 1280, 720, 64).frame(5),
                                       (960, 540), interpolation=cv2.INTER_AREA)
    assert read_content_marker(canvas, (0.0, 0.0, 0.5, 1.0)) == ContentReading(7, 1, 1, 5)
    assert read_content_marker(canvas, (0.5, 0.0, 0.5, 1.0)) is None
    assert read_marker(canvas, (0.5, 0.0, 0.5, 1.0)) is not None
    assert read_marker(canvas, (0.0, 0.0, 0.5, 1.0)) is None


def test_camera_never_read_as_content_and_content_never_as_camera():
    for site in range(0, 64, 3):
        scene = CameraScene(site, f"Site {site}", 1280, 720, 64)
        for frame in (0, 21, 63):
            picture = scene.frame(frame)
            assert read_content_marker(picture) is None
            assert read_content_marker(cv2.resize(picture, (480, 270))) is None
        for kind in KINDS:
            page = render_page(kind, site, site % 3, 1280, 720, frame_index=site % 61)
            assert read_marker(page) is None
            assert read_marker(cv2.resize(page, (480, 270))) is None


def test_content_format_by_presentation():
    assert content_format(Presentation.SLIDES).fps == 5
    assert content_format(Presentation.MOTION).fps == 30  # 1080p60 needs level 4.2
    assert content_format(Presentation.MOTION, 1280, 720).fps == 60
    assert content_format(Presentation.MOTION, 1920, 1080, max_level_idc=42).fps == 60


def test_content_format_at_most_the_signalled_rate():
    # the MCU's content parameters: motion at a 30 fps aux format, slides at 5
    assert content_format(Presentation.MOTION, 1280, 720, max_fps=30).fps == 30
    assert content_format(Presentation.MOTION, 1280, 720, max_fps=60).fps == 60
    assert content_format(Presentation.SLIDES, max_fps=30).fps == 5
    assert content_format(Presentation.SLIDES, max_fps=2).fps == 2
    for bad in (0, 61, -5):
        with pytest.raises(ValueError):
            content_format(Presentation.MOTION, max_fps=bad)


def _decoded(loop) -> list[np.ndarray]:
    return decode_packets(loop.codec, list(loop.packets))


def test_slides_loop_decodes_sharp_and_a_bad_encode_measures_clearly_worse():
    good = ContentSource(3, presentation=Presentation.SLIDES).encode("H264")
    bad = ContentSource(3, presentation=Presentation.SLIDES, bitrate=60_000).encode("H264")
    for good_loop, bad_loop, page in zip(good, bad, ContentSource(3).pages, strict=True):
        picture = _decoded(good_loop)[-1]
        reading, quality = analyse_content(picture)
        assert reading == ContentReading(3, int(page.kind), page.page, len(good_loop.packets) - 1)
        assert quality is not None and quality[0] > 38 and quality[1] > 0.99, quality
        for pane in ((960, 540), (480, 270)):  # a CP_2_1 pane, a quarter pane
            scaled = cv2.resize(picture, pane, interpolation=cv2.INTER_AREA)
            assert read_content_marker(scaled) == reading, pane
        bad_reading, bad_quality = analyse_content(_decoded(bad_loop)[-1])
        if bad_reading is not None:  # the marker may not even survive
            assert bad_quality is not None and bad_quality[0] < quality[0] - 10, bad_quality


def test_vp8_slides_decode_sharp():
    source = ContentSource(8, width=640, height=360)
    for loop, page in zip(source.encode("VP8"), source.pages, strict=True):
        reading, quality = analyse_content(_decoded(loop)[-1], source_size=(640, 360))
        assert reading == ContentReading(8, int(page.kind), page.page, len(loop.packets) - 1)
        assert quality is not None and quality[0] > 35, quality


def test_downscaled_content_measures_worse_than_the_full_page():
    page = render_page(DocumentKind.RECORD, 2, 0, 1920, 1080, frame_index=1)
    _reading, sharp = analyse_content(page)
    blurred = cv2.resize(cv2.resize(page, (640, 360), interpolation=cv2.INTER_AREA),
                         (1920, 1080), interpolation=cv2.INTER_LINEAR)
    _reading, blurry = analyse_content(blurred)
    assert sharp is not None and blurry is not None
    assert sharp[0] > 60 and blurry[0] < 25


def test_content_in_a_pane_is_measured_against_the_scaled_page():
    page = render_page(DocumentKind.RECORD, 6, 2, 1920, 1080, frame_index=4)
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[270:810, 960:] = cv2.resize(page, (960, 540), interpolation=cv2.INTER_AREA)
    reading, quality = analyse_content(canvas, (0.5, 0.0, 0.5, 1.0))
    assert reading == ContentReading(6, 1, 2, 4)
    assert quality is not None and quality[0] > 35, quality


async def _recv_packets(track: ContentTrack, count: int) -> list:
    return [await within(track.recv(), 5) for _ in range(count)]


async def test_track_sends_nothing_while_stopped_then_starts_on_a_keyframe():
    source = ContentSource(1, width=640, height=360, presentation=Presentation.MOTION)
    loops = await source.prepare("H264")
    log = SendLog()
    track = ContentTrack(source, loops, send_log=log, uri="010101")
    with pytest.raises(asyncio.TimeoutError):
        await within(track.recv(), 0.5)
    assert track.frames_sent == 0
    track.start_sending()
    packets = await _recv_packets(track, 5)
    assert is_keyframe_packet("H264", bytes(packets[0]))
    assert [p.pts for p in packets] == sorted(p.pts for p in packets)
    assert log.sent_at(1, content_frame_key(DocumentKind.RADIOGRAPH, 0, 4)) is not None
    track.stop_sending()
    sent = track.frames_sent
    with pytest.raises(asyncio.TimeoutError):
        await within(track.recv(), 0.5)
    assert track.frames_sent == sent
    track.start_sending()
    again = await _recv_packets(track, 1)
    assert is_keyframe_packet("H264", bytes(again[0]))
    assert again[0].pts > packets[-1].pts
    track.stop_sending()


async def test_pli_jumps_to_the_next_keyframe_and_pages_change():
    source = ContentSource(2, width=640, height=360, presentation=Presentation.MOTION,
                           page_seconds=0.2)
    loops = await source.prepare("H264")
    assert source.video_format.fps == 60 and loops[0].keyframes == (0, 30)
    track = ContentTrack(source, loops, send_log=SendLog())
    track.start_sending()
    await _recv_packets(track, 3)
    track.request_keyframe()
    packet = (await _recv_packets(track, 1))[0]
    assert bytes(packet) == loops[0].packets[30]
    await _recv_packets(track, 12 - 4)  # 0.2 s at 60 fps: page 0 ends after 12 frames
    assert track.current_page == PageId(DocumentKind.RADIOGRAPH, 0)
    first_of_page = (await _recv_packets(track, 1))[0]
    assert track.current_page == PageId(DocumentKind.RECORD, 0)
    assert bytes(first_of_page) == loops[1].packets[0]  # the next page, on its keyframe
    track.stop_sending()


async def test_content_receiver_statistics_from_decoded_frames():


    source = ContentSource(5, width=1280, height=720)
    loops = source.encode("H264")
    log = SendLog()
    track = ContentTrack(source, loops, send_log=log, uri="010105")
    receiver = ContentReceiver(send_log=log, analyse_every=1000, source_size=(1280, 720))
    decoder = av.CodecContext.create("h264", "r")
    track.start_sending()
    for packet in await _recv_packets(track, 4):
        for frame in decoder.decode(av.Packet(bytes(packet))):
            receiver.on_frame(frame, time.time())
    status = await receiver.analyse_latest()
    track.stop_sending()
    assert (status.site_index, status.site_uri, status.kind, status.page) == (
        5, "010105", DocumentKind.RADIOGRAPH, 0)
    assert status.frame_index == 3
    assert status.latency_ms_p50 is not None and 0 <= status.latency_ms_p50 < 2000
    assert status.psnr_db is not None and status.psnr_db > 35


async def test_ending_the_track_ends_a_recv_waiting_for_the_floor():
    source = ContentSource(1, width=640, height=360)
    track = ContentTrack(source, await source.prepare("H264"), send_log=SendLog())
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.1)
    assert not waiting.done()
    track.stop()
    with pytest.raises(MediaStreamError):
        await within(waiting, 2)
    assert not track.sending


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        ContentSource(1, pages=())
    with pytest.raises(ValueError):
        ContentSource(1, page_seconds=0)
    with pytest.raises(ValueError):
        ContentSource(1, width=1921)
    with pytest.raises(ValueError):
        ContentSource(1).encode("AV1")
    with pytest.raises(ValueError):
        ContentTrack(ContentSource(1), loops=[], send_log=SendLog())


@pytest.mark.parametrize(("input_kind", "input_id"), [("pc", 2), ("doc-camera", 3)])
async def test_an_aux_input_shared_as_content_carries_the_content_marker_and_its_tag(
        input_kind, input_id):
    """ContentSource.show_input: the track sends the input's picture (from a keyframe), whose
    content marker names the site and says "an input's picture" (no sharpness figure), and
    whose input tag says which input; None goes back to the document pages."""
    source = ContentSource(11, width=640, height=360)
    loops, pages = await source.prepare_pages("H264")
    track = ContentTrack(source, send_log=SendLog())
    track.use_loops(loops, pages)
    source.show_input(InputPage(input_kind, input_id))
    assert track.current_page == PageId(DocumentKind.RADIOGRAPH, 0)  # until its loops come
    loops, pages = await source.prepare_pages("H264")
    track.use_loops(loops, pages)
    track.start_sending()
    packets = await _recv_packets(track, 3)
    assert is_keyframe_packet("H264", bytes(packets[0]))
    picture = decode_packets("H264", [bytes(p) for p in packets])[-1]
    reading = read_content_marker(picture)
    assert reading is not None and reading.site_index == 11 and reading.is_input_picture
    assert reading.kind == InputPage(input_kind, input_id).kind and reading.frame_index == 2
    assert [(tag.kind, tag.input_id) for tag in read_input_tags(picture)] == [
        (input_kind, input_id)]
    assert analyse_content(picture, source_size=(640, 360)) == (reading, None)
    track.stop_sending()
    source.show_input(None)
    assert source.pages == source.document_pages
    with pytest.raises(ValueError):
        InputPage("camera", 0)  # a camera's view is the main stream's, not content
