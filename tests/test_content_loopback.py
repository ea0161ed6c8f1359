"""The content track as the SECOND video track of a real aiortc peer connection (DTLS-SRTP,
ICE on 127.0.0.1), next to a camera track: the receiving side reads the camera's site on
the first and the content's site, page and sharpness on the second; stopping the content
stops its frames while the camera goes on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpSender

from rtc import aiortc_hooks
from terminals.content_receiver import ContentReceiver
from terminals.content_source import ContentSource, ContentTrack
from terminals.documents import DocumentKind
from terminals.media_sources import EncodedVideoTrack, VideoFormat, encode_loop
from terminals.receiver import VideoReceiver
from terminals.scene import CameraScene
from terminals.send_log import SendLog

SITE = 4


def _h264_only(transceiver) -> None:
    codecs = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType in ("video/H264", "video/rtx")])


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_content_as_second_video_track_reaches_the_peer():
    camera_log, content_log = SendLog(), SendLog()
    camera_log.register_site(SITE, "010104", 32 / 15)
    camera_format = VideoFormat(320, 180, 15, 300_000)
    loop = await asyncio.get_running_loop().run_in_executor(
        None, encode_loop, CameraScene(SITE, "Site 010104", 320, 180, 32), "H264", camera_format)
    camera = EncodedVideoTrack(SITE, loop, send_log=camera_log)
    source = ContentSource(SITE, width=640, height=360)
    content = ContentTrack(source, await source.prepare("H264"), send_log=content_log,
                           uri="010104")

    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    try:
        for track in (camera, content):
            transceiver = sender.addTransceiver(track, direction="sendonly")
            _h264_only(transceiver)
            aiortc_hooks.on_keyframe_request(transceiver.sender, track.request_keyframe)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        assert "127.0.0.1" in sender.localDescription.sdp

        main_track, content_track = (t.receiver.track for t in receiver.getTransceivers())
        camera_stats = VideoReceiver(camera_log, analyse_every=5)
        content_stats = ContentReceiver(content_log, analyse_every=2, source_size=(640, 360))
        tasks = [asyncio.ensure_future(camera_stats.consume(main_track)),
                 asyncio.ensure_future(content_stats.consume(content_track))]

        await _until(lambda: camera_stats.pane_statuses()[0].site_index == SITE)
        assert content_stats.frames_decoded == 0  # the floor is not held: nothing sent
        assert content.frames_sent == 0

        content.start_sending()
        await _until(lambda: content_stats.status().site_index == SITE)
        status = content_stats.status()
        assert (status.site_uri, status.kind, status.page) == ("010104", DocumentKind.RADIOGRAPH, 0)
        await _until(lambda: content_stats.status().latency_ms_p50 is not None)
        status = content_stats.status()
        assert status.latency_ms_p50 is not None and status.latency_ms_p50 < 1500
        assert status.psnr_db is not None and status.psnr_db > 35, status

        content.stop_sending()
        await asyncio.sleep(0.5)  # frames in flight
        decoded, camera_decoded = content_stats.frames_decoded, camera_stats.frames_decoded
        await asyncio.sleep(1.0)
        assert content_stats.frames_decoded == decoded
        assert camera_stats.frames_decoded > camera_decoded
        for task in tasks:
            task.cancel()
    finally:
        await sender.close()
        await receiver.close()
