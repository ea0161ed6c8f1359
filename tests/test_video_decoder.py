"""mcu/media/video_decoder.py on a real aiortc receiver and its own decoder thread: while
the event loop runs late, the MCU's decoded pictures of a site do not pile up (each one
holds a buffer of the decoder's frame pool, which FFmpeg never shrinks); aiortc's own
hand-over, measured the same way, piles up one picture per frame. Decoding errors are
handled as aiortc handles them, and the receiver's stop still ends its thread and track.

The late loop is made by blocking it (time.sleep) while the decoder thread decodes: what a
full collection or a loaded machine does to the MCU's loop for tens or hundreds of ms."""

from __future__ import annotations

import gc
import os
import queue
import threading
import time
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.video_decoder import LatestPictureDecoder, decode_video_latest, on_one_thread
from rtc import aiortc_hooks
from terminals.media_sources import VideoFormat, encode_loop
from terminals.scene import CameraScene
from tests.rtc_stubs import RecordingTransport
from tests.test_aiortc_hooks import VP8, started_receiver

FRAMES = 40
DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"  # aiortc's, as rtc/aiortc_hooks.py reaches it


def vp8_frames(count: int) -> list[JitterFrame]:
    """`count` real VP8 frames (a keyframe first), 64x48, as the jitter buffer hands them."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 48, "yuv420p"
    encoder.time_base = Fraction(1, 90_000)
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0"}
    encoded: list[JitterFrame] = []
    for index in range(count):
        picture = np.full((72, 64), (index * 6) % 256, dtype=np.uint8)  # I420 planes stacked
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts, frame.time_base = index * 3000, Fraction(1, 90_000)
        encoded += [JitterFrame(data=bytes(packet), timestamp=index * 3000)
                    for packet in encoder.encode(frame)]
    assert len(encoded) == count
    return encoded


def decoder_queue(receiver: RTCRtpReceiver) -> queue.Queue[Any]:
    found: queue.Queue[Any] = getattr(receiver, DECODER_QUEUE)
    return found


def pictures_alive() -> int:
    return sum(1 for obj in gc.get_objects() if isinstance(obj, av.VideoFrame))


def feed_while_the_loop_is_late(receiver: RTCRtpReceiver, frames: list[JitterFrame]) -> None:
    """Put every frame on the receiver's decoder queue and keep the loop blocked until its
    thread has decoded them all: nothing the thread hands to the loop can run meanwhile."""
    waiting = decoder_queue(receiver)
    for frame in frames:
        waiting.put((VP8, frame))
    deadline = time.monotonic() + 20
    while waiting.qsize() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # the last frame's decoding
    assert waiting.qsize() == 0, "the decoder thread did not keep up"


async def test_a_late_loop_holds_one_picture_not_one_per_frame():
    frames = vp8_frames(FRAMES)
    slot = LatestFrameSlot()
    installed: list[LatestPictureDecoder] = []
    receiver = await started_receiver(
        RecordingTransport(),
        lambda r: installed.append(decode_video_latest(r, slot.put)))
    try:
        before = pictures_alive()
        feed_while_the_loop_is_late(receiver, frames)
        held = pictures_alive() - before
        decoder = installed[0]
        assert decoder.frames_decoded == FRAMES and decoder.decode_errors == 0
        assert slot.frames_received == FRAMES  # every picture reached the slot, in turn
        assert slot.take() is not None
        # the slot's picture, and the empty frame PyAV's decoder keeps for its next output
        assert held <= 2, f"{held} decoded pictures alive after a late loop"
    finally:
        await receiver.stop()
    # the receiver's stop got back to aiortc's thread, which ended the track as before;
    # no picture ever went through the track
    with pytest.raises(MediaStreamError):
        await receiver.track.recv()


async def test_aiortcs_own_hand_over_piles_up_a_picture_per_frame():
    """The measurement above, on aiortc's unchanged receiver: the pictures wait for the loop
    (what made each call's frame pool as large as its worst backlog)."""
    frames = vp8_frames(FRAMES)
    receiver = await started_receiver(RecordingTransport())
    try:
        before = pictures_alive()
        feed_while_the_loop_is_late(receiver, frames)
        held = pictures_alive() - before
        assert held >= FRAMES - 1, held
    finally:
        await receiver.stop()


async def test_a_frame_that_fails_to_decode_is_skipped_and_asks_for_a_keyframe():
    frames = vp8_frames(3)
    slot = LatestFrameSlot()
    installed: list[LatestPictureDecoder] = []
    receiver = await started_receiver(
        RecordingTransport(),
        lambda r: installed.append(decode_video_latest(r, slot.put)))
    flag = aiortc_hooks.decoder_error_flag(receiver)
    try:
        waiting = decoder_queue(receiver)
        waiting.put((VP8, frames[0]))
        waiting.put((VP8, JitterFrame(data=b"\xff" * 40, timestamp=3000)))  # not VP8
        waiting.put((VP8, frames[2]))
        deadline = time.monotonic() + 10
        while installed[0].frames_decoded < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        decoder = installed[0]
        assert decoder.decode_errors == 1
        assert decoder.frames_decoded == 2  # the decoder kept its state
        assert slot.frames_received == 2
        assert flag.is_set()  # the receiver sends a PLI with its next packet
    finally:
        await receiver.stop()


H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90_000, payloadType=102)


def h264_frames(count: int) -> list[JitterFrame]:
    """`count` frames of the terminals' H.264 loop at 640x360 (a keyframe first)."""
    loop = encode_loop(CameraScene(3, "Site 3", 640, 360, count), "H264",
                       VideoFormat(640, 360, 30, 600_000))
    return [JitterFrame(data=data, timestamp=index * 3000)
            for index, data in enumerate(loop.packets)]


def test_a_site_s_video_is_decoded_on_its_thread_alone() -> None:
    """The MCU decodes each site on the decoder thread aiortc gives it, with no threads of
    FFmpeg's own (video_decoder.on_one_thread): once open, the site's decoder runs with one
    thread, FFmpeg's own count of the threads it decodes with, and every picture comes
    out. aiortc's decoder as it comes runs with more than one where the process may use
    more than one core (the contrast: what the MCU did before)."""
    frames = h264_frames(12)
    counts: list[int] = []
    decoder = LatestPictureDecoder(lambda picture: counts.append(
        decoder._decoder.codec.thread_count))
    for frame in frames:
        decoder.put((H264, frame))
    decoder.put(None)
    thread = threading.Thread(target=decoder.get)  # as aiortc's decoder thread calls it
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert decoder.frames_decoded == len(frames) and decoder.decode_errors == 0
    assert counts == [1] * len(frames)

    aiortc_own: Any = get_decoder(H264)
    for frame in frames:
        aiortc_own.decode(frame)
    if len(os.sched_getaffinity(0)) > 1:
        assert aiortc_own.codec.thread_count > 1


def test_a_decoder_already_open_or_without_a_context_is_left_as_it_is() -> None:
    opened: Any = get_decoder(H264)
    opened.decode(h264_frames(1)[0])  # opens its context
    threads = opened.codec.thread_count
    assert on_one_thread(opened) is opened and opened.codec.thread_count == threads
    plain = object()
    assert on_one_thread(plain) is plain
