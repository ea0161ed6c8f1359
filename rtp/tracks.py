"""An RTP session's media the way aiortc gives a WebRTC call's to the MCU
(mcu/media/site_media.py, webrtc_endpoint.py):

- `IncomingTrack`: a MediaStreamTrack whose recv() yields the decoded av.VideoFrame /
  av.AudioFrame of what the site sends (pts in the RTP clock, time_base 1/clock);
- `RtpSender`: reads a MediaStreamTrack, like aiortc's RTCRtpSender: an av.VideoFrame or
  av.AudioFrame is encoded by the session's encoder for the negotiated codec (a keyframe when
  the site asks with PLI/FIR), an av.Packet (an MCU encoder group's, already in the negotiated
  codec) is packetized as it is and the site's keyframe requests go to `on_keyframe_request`.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtp.codecs import AudioEncoder, EncodedFrame, UnsupportedFormat, VideoEncoder
from rtp.payloads import PayloadError
from rtp.session import RtpSession

log = logging.getLogger(__name__)

VIDEO_QUEUE = 4  # decoded pictures waiting for recv(); older ones are dropped
AUDIO_QUEUE = 50  # 1 s of 20 ms frames


class IncomingTrack(MediaStreamTrack):
    def __init__(self, session: RtpSession) -> None:
        super().__init__()
        self.kind = session.kind
        self._session = session
        self._limit = VIDEO_QUEUE if session.video else AUDIO_QUEUE
        self._queue: asyncio.Queue[av.VideoFrame | av.AudioFrame | None] = asyncio.Queue()
        self._time_base = fractions.Fraction(1, session.clock_rate)
        self.dropped = 0
        session.on_frame = self._put
        session.on_closed = self.stop  # recv() then raises MediaStreamError, as aiortc's do

    def _put(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        frame.time_base = self._time_base
        while self._queue.qsize() >= self._limit:
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            self._queue.put_nowait(None)
        super().stop()


class RtpSender:
    """Sends what `track` yields on `session` until the track ends or stop() is called.
    `size` and `fps` are the video encoder's (frames of another size are scaled to it: the
    negotiated format is the sender's, e.g. CIF for H.261)."""

    def __init__(self, session: RtpSession, track: MediaStreamTrack,
                 size: tuple[int, int] = (352, 288), fps: int = 30,
                 bitrate: int | None = None) -> None:
        self.session = session
        self.track = track
        self.size = size
        self.fps = fps
        self.bitrate = bitrate
        self.frames_sent = 0
        self.keyframes_sent = 0
        self.send_errors = 0
        self.on_keyframe_request: Callable[[], None] = lambda: None
        self._want_keyframe = True
        self._video: VideoEncoder | None = None
        self._audio: AudioEncoder | None = None
        self._audio_timestamp = session.rtp_timestamp_now
        session.on_keyframe_request = self.request_keyframe
        self._task: asyncio.Task[None] | None = None

    def request_keyframe(self) -> None:
        self._want_keyframe = True
        self.on_keyframe_request()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"rtp-send-{self.session.kind}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                item = await self.track.recv()
            except MediaStreamError:
                return
            try:
                if isinstance(item, av.Packet):
                    self._send_packet(item)
                elif isinstance(item, av.VideoFrame):
                    self._send_video(item)
                elif isinstance(item, av.AudioFrame):
                    self._send_audio(item)
            except (PayloadError, UnsupportedFormat, av.FFmpegError) as exc:
                # a frame the payload format cannot carry, an encoder that refuses its settings
                self.send_errors += 1
                if self.send_errors == 1 or self.send_errors % 100 == 0:
                    log.warning("%s frame not sent (%d so far): %s", self.session.codec.name,
                                self.send_errors, exc)

    def _send_packet(self, packet: av.Packet) -> None:
        if self.session.video:
            if self._want_keyframe and not packet.is_keyframe:
                return  # the site's decoder waits for the keyframe it asked for
            self._want_keyframe = False
            encoded = EncodedFrame.of(packet)
            self.session.send_frame(encoded.data, encoded.keyframe, side_data=encoded.side_data)
        else:
            self.session.send_frame(bytes(packet), False, self._next_audio_timestamp())
        self.frames_sent += 1

    def _send_video(self, frame: av.VideoFrame) -> None:
        if self._video is None:
            width, height = self.size
            self._video = VideoEncoder(self.session.codec, width, height, self.fps,
                                       self.bitrate or 1_500_000)
        keyframe, self._want_keyframe = self._want_keyframe, False
        for encoded in self._video.encode(frame, keyframe):
            self.keyframes_sent += int(encoded.keyframe)
            self.session.send_frame(encoded.data, encoded.keyframe, side_data=encoded.side_data)
            self.frames_sent += 1

    def _send_audio(self, frame: av.AudioFrame) -> None:
        if self._audio is None:
            self._audio = AudioEncoder(self.session.codec)
        for data in self._audio.encode(frame):
            self.session.send_frame(data, False, self._next_audio_timestamp())
            self.frames_sent += 1

    def _next_audio_timestamp(self) -> int:
        step = self.session.clock_rate * 20 // 1000
        stamp = self._audio_timestamp
        self._audio_timestamp = (stamp + step) & 0xFFFFFFFF
        return stamp
