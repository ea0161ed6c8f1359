"""A terminal's camera and microphone as aiortc tracks, cheap enough for 16 per process.

Video is encoded once: the scene's loop (64 frames by default) goes through libx264
(ultrafast, zerolatency, constrained baseline at the level its format needs, the level its
SDP states: `describe_streams`) or libvpx (VP8, realtime) at start, and the track hands aiortc the packets in a loop:
aiortc's RTCRtpSender only packetizes an av.Packet (`encoder.pack`), it does not encode it.
So a sending terminal costs a few percent of a core at 720p30, not an encoder.

Keyframes: the loop has one every KEYFRAME_INTERVAL frames (32, ~1 s at 30 fps) and starts
with one, so wrapping round is seamless and a receiver that lost a packet recovers within
about a second on its own. A PLI/FIR from the receiver makes the track jump to the next
keyframe of the loop at once (the frame index jumps forward; timestamps stay continuous).

Audio is synthesised per 20 ms block (terminals/speech.py, a slice of a precomputed period).
When the call negotiated Opus, the track hands aiortc mono Opus packets of its own, which
aiortc only packetizes: an AudioFrame would cost a hop to aiortc's thread pool, its
resampler, a 96 kbit/s stereo encode and its per-sample Python level loop. The packets are
encoded once per level and period of the talker's voice and looked up per block
(terminals/speech_packets.py), so a block costs an av.Packet of cached bytes, not an encode.
For G.722 or G.711 the track hands aiortc frames to encode (cheap codecs; the level
computation is rtc/audio_level.py's, installed at process start by rtc/aiortc_hooks.py).

Every video frame's send time is written to a SendLog with its frame index.

Colour: the scene is drawn in sRGB and turned into YCbCr by the convention of rtc/colour.py
(BT.601 matrix, TV range), and the encoder states it (H.264: SPS VUI colour description;
VP8: its colour-space bit, BT.601), as the MCU's encoders do.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from dataclasses import dataclass
from typing import Protocol

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from rtc.codec_preferences import rtp_name
from rtc.colour import CONVENTION, bgr_picture
from rtc.h264_levels import H264Profile, Level, level_for, macroblocks, x264_level_params
from terminals.send_log import PROCESS_SEND_LOG, SendLog
from terminals.speech import SAMPLE_RATE, SpeechSynth
from terminals.speech_packets import OpusVoice
from terminals.sync_pattern import FLASH_FRAMES, SyncPattern, aligned_start, encode_flash

KEYFRAME_INTERVAL = 32
DEFAULT_LOOP_FRAMES = 64
VIDEO_CLOCK_RATE = 90000
RTP_VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_BLOCK_SAMPLES = SAMPLE_RATE // 50  # 20 ms

# Codec name as negotiated in SDP -> (FFmpeg encoder, options)
_ENCODERS: dict[str, tuple[str, dict[str, str]]] = {
    "H264": ("libx264", {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "forced-idr": "1",
    }),
    "VP8": ("libvpx", {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
    }),
}
SUPPORTED_VIDEO_CODECS = tuple(_ENCODERS)
TERMINAL_H264_PROFILE = H264Profile.CONSTRAINED_BASELINE  # libx264 ultrafast baseline


@dataclass(frozen=True)
class VideoFormat:
    width: int = 1280
    height: int = 720
    fps: int = 30
    bitrate: int = 1_500_000


DEFAULT_VIDEO_FORMAT = VideoFormat()


def h264_level(video_format: VideoFormat) -> Level:
    """The H.264 level the terminal's video needs (and states in its SDP)."""
    return level_for(video_format.width, video_format.height, video_format.fps,
                     video_format.bitrate, TERMINAL_H264_PROFILE)


def level_options(codec: str, video_format: VideoFormat) -> dict[str, str]:
    """libx264 options that keep the loop within its level (none for VP8)."""
    if codec != "H264":
        return {}
    params = x264_level_params(h264_level(video_format), video_format.bitrate)
    return {"x264-params": ":".join(params)}


def describe_streams(sdp: str, video_format: VideoFormat) -> str:
    """The terminal's own SDP stating what it sends: every H.264 payload type's level is its
    format's (each keeps its profile; the loop is Constrained Baseline, which all of them
    can carry), VP8's max-fs and max-fr its format's."""
    level = h264_level(video_format)
    description = SessionDescription.parse(sdp)
    for media in description.media:
        for codec in media.rtp.codecs if media.kind == "video" else []:
            if rtp_name(codec) == "H264":
                profile = str(codec.parameters.get("profile-level-id", "42e01f"))
                codec.parameters["profile-level-id"] = f"{profile[:4]}{level.idc:02x}"
            elif rtp_name(codec) == "VP8":
                mb_w, mb_h = macroblocks(video_format.width, video_format.height)
                codec.parameters.update({"max-fs": mb_w * mb_h, "max-fr": video_format.fps})
    return str(description)


MIN_LADDER_BITRATE = 150_000


def ladder_format(own: VideoFormat, width: int, height: int, fps: int) -> VideoFormat:
    """What a terminal sending `own` sends when the MCU asks for at most width x height at
    fps (send_video): that size when it is smaller than its own (same aspect: the ladder's
    16:9), else its own; the lower of the two rates. The bitrate scales with the square
    root of the area (small pictures need more bits per pixel for the same sharpness) and
    with the rate, never below MIN_LADDER_BITRATE."""
    if width * height >= own.width * own.height or width > own.width or height > own.height:
        width, height = own.width, own.height
    rate = max(1, min(fps, own.fps))
    if (width, height, rate) == (own.width, own.height, own.fps):
        return own
    area = (width * height) / (own.width * own.height)
    bitrate = int(own.bitrate * area ** 0.5 * rate / own.fps)
    return VideoFormat(width, height, rate, max(MIN_LADDER_BITRATE, min(own.bitrate, bitrate)))


class ScaledScene:
    """A loop scene drawn at its own size and scaled to width x height (INTER_AREA: what a
    camera's scaler does), for the loops of the send ladder's smaller sizes."""

    def __init__(self, scene: LoopScene, width: int, height: int) -> None:
        self.scene = scene
        self.width, self.height = width, height

    @property
    def loop_frames(self) -> int:
        return self.scene.loop_frames

    def frame(self, frame_index: int) -> np.ndarray:
        return scaled(self.scene.frame(frame_index), self.width, self.height)


def scaled(bgr: np.ndarray, width: int, height: int) -> np.ndarray:
    """`bgr` at width x height (itself when it is that size already)."""
    if bgr.shape[1] == width and bgr.shape[0] == height:
        return bgr
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)


class LoopScene(Protocol):
    """What encode_loop draws from: a loop of BGR pictures (CameraScene, a shared page)."""

    @property
    def loop_frames(self) -> int: ...

    def frame(self, frame_index: int) -> np.ndarray: ...


@dataclass(frozen=True)
class EncodedLoop:
    codec: str
    packets: tuple[bytes, ...]
    keyframes: tuple[int, ...]  # frame indices of keyframes, ascending
    video_format: VideoFormat

    @property
    def frames(self) -> int:
        return len(self.packets)

    def next_keyframe(self, frame_index: int) -> int:
        """The first keyframe at or after frame_index, wrapping round the loop."""
        for keyframe in self.keyframes:
            if keyframe >= frame_index:
                return keyframe
        return self.keyframes[0]


def video_encoder(codec: str, video_format: VideoFormat,
                  keyframe_interval: int = KEYFRAME_INTERVAL,
                  encoder_options: dict[str, str] | None = None) -> av.VideoCodecContext:
    """A real-time encoder of the terminal's video: libx264 ultrafast/zerolatency or libvpx
    realtime at the format's level and bitrate, stating the colour convention."""
    if codec not in _ENCODERS:
        raise ValueError(f"no encoder for {codec}")
    encoder_name, options = _ENCODERS[codec]
    context = av.CodecContext.create(encoder_name, "w")
    assert isinstance(context, av.VideoCodecContext)  # libx264 and libvpx are video encoders
    context.width, context.height = video_format.width, video_format.height
    context.pix_fmt = "yuv420p"
    context.time_base = fractions.Fraction(1, video_format.fps)
    context.framerate = fractions.Fraction(video_format.fps, 1)
    context.bit_rate = video_format.bitrate
    context.gop_size = keyframe_interval
    context.options = {**options, **level_options(codec, video_format), **(encoder_options or {})}
    CONVENTION.apply_to(context)
    return context


def encode_loop(scene: LoopScene, codec: str, video_format: VideoFormat,
                keyframe_interval: int = KEYFRAME_INTERVAL,
                encoder_options: dict[str, str] | None = None) -> EncodedLoop:
    """Draw and encode the scene's whole loop once; frame i of the loop is packet i.
    `encoder_options` are added to (or override) the codec's real-time options."""
    context = video_encoder(codec, video_format, keyframe_interval, encoder_options)
    packets: list[bytes] = []
    keyframes: list[int] = []

    def collect(encoded: list[av.Packet]) -> None:
        for packet in encoded:
            if packet.is_keyframe:
                keyframes.append(len(packets))
            packets.append(bytes(packet))

    for index in range(scene.loop_frames):
        frame = bgr_picture(scene.frame(index))
        frame.pts = index
        frame.time_base = context.time_base
        # Every keyframe_interval-th frame is forced to be a keyframe so the loop's keyframes
        # are where next_keyframe() expects them, whatever the encoder's own placement.
        is_key = index % keyframe_interval == 0
        frame.pict_type = av.video.frame.PictureType.I if is_key else av.video.frame.PictureType.NONE
        collect(context.encode(frame))
    collect(context.encode(None))
    if len(packets) != scene.loop_frames or not keyframes or keyframes[0] != 0:
        raise RuntimeError(f"{codec} loop: {len(packets)} packets for {scene.loop_frames} frames")
    return EncodedLoop(codec, tuple(packets), tuple(keyframes), video_format)


class EncodedVideoTrack(MediaStreamTrack):
    """Sends a pre-encoded loop in real time; aiortc packetizes without re-encoding."""

    kind = "video"

    def __init__(self, site_index: int, loop: EncodedLoop | None = None,
                 send_log: SendLog = PROCESS_SEND_LOG) -> None:
        super().__init__()
        self.site_index = site_index
        self.send_log = send_log
        # Not `_loop`: that is the event loop of pyee's AsyncIOEventEmitter (the track's base),
        # which it uses to schedule coroutine listeners.
        self._encoded = loop
        self._loop_ready = asyncio.Event()
        if loop is not None:
            self._loop_ready.set()
        self._frame_index = 0
        self._frames_sent = 0
        self._next_due: float | None = None  # time.time() the next frame is due
        self._pts = 0  # RTP timestamp (90 kHz) of the next frame
        self._keyframe_wanted = False
        self._next_loop: EncodedLoop | None = None  # switch_loop's, taken at a keyframe
        self.keyframe_requests = 0
        # the sync pattern (terminals/sync_pattern.py): None sends the loop only
        self.sync: SyncPattern | None = None
        self._flash: tuple[bytes, ...] = ()
        self._flash_sent = 0
        self.flashes_sent = 0

    @property
    def loop(self) -> EncodedLoop | None:
        return self._encoded

    @property
    def switch_pending(self) -> bool:
        """A switch_loop waits for the next keyframe of the loop's position."""
        return self._next_loop is not None

    def use_loop(self, loop: EncodedLoop) -> None:
        """Send this loop (the negotiated codec's) from its first keyframe on; a switch
        still waiting for its keyframe (switch_loop) is called off: it was to another loop
        of the format this one replaces."""
        self._encoded = loop
        self._next_loop = None
        self._frame_index = 0
        self._loop_ready.set()

    def switch_loop(self, loop: EncodedLoop) -> None:
        """Go on with another loop of the same picture (another size or rate: a send_video
        request) at the next keyframe of the loop's position: both loops have their
        keyframes at the same frame indices, so the new loop starts with a keyframe exactly
        where the old one would have gone on (no frame skipped, the marker's frame index
        continuous, the receiver's decoder meets the new size at an IDR)."""
        if self._encoded is None:
            self.use_loop(loop)
            return
        # the loop sent now: nothing to switch to (a switch under way is called off)
        self._next_loop = None if loop is self._encoded else loop

    def request_keyframe(self) -> None:
        """Called on PLI/FIR: the next frame sent is a keyframe of the loop."""
        self.keyframe_requests += 1
        self._keyframe_wanted = True

    @property
    def frames_sent(self) -> int:
        return self._frames_sent

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self._loop_ready.wait()
        loop = self._encoded
        assert loop is not None
        fps = loop.video_format.fps
        now = time.time()
        sync = self.sync
        due = self._next_due if self._next_due is not None else now
        if sync is not None:
            # with the sync pattern, frames are captured on the wall clock's 1/fps grid (the
            # pattern may be switched on mid-call)
            due = aligned_start(due, 1 / fps)
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 2 / fps:
            # Fell behind (a busy event loop): carry on from now rather than send a burst.
            due = now if sync is None else aligned_start(now, 1 / fps)
        if sync is not None and sync.flash_starts(due, fps):
            self._flash, self._flash_sent = flash_packets(loop.codec, loop.video_format), 0
            self.flashes_sent += 1
        index: int | None
        if self._flash_sent < len(self._flash):
            data, index = self._flash[self._flash_sent], None
            self._flash_sent += 1
            if self._flash_sent == len(self._flash):
                self._keyframe_wanted = True  # back to the picture from a keyframe
        else:
            data, index = await self._next_frame(loop, due)
        # the rate of the loop this frame came from (a send_video request may change it):
        # timestamps and the next due time follow it, so they stay continuous across a switch
        sent_fps = self._encoded.video_format.fps if self._encoded is not None else fps
        packet = av.Packet(data)
        packet.pts = self._pts
        packet.time_base = RTP_VIDEO_TIME_BASE
        self._pts += VIDEO_CLOCK_RATE // sent_fps
        self._next_due = due + 1 / sent_fps
        if index is not None:  # a flash frame carries no marker
            self.send_log.record_send(self.site_index, index)
        self._frames_sent += 1
        return packet

    async def _next_frame(self, loop: EncodedLoop, due: float) -> tuple[bytes, int]:
        """The encoded frame to send at time `due` and its frame index (the marker's)."""
        return self._loop_frame(loop)

    def _loop_frame(self, loop: EncodedLoop) -> tuple[bytes, int]:
        """The next packet of the loop (from its next keyframe after a keyframe request)."""
        following = self._next_loop
        if following is not None and (self._keyframe_wanted
                                      or self._frame_index in following.keyframes):
            self._encoded = loop = following
            self._next_loop = None
        if self._keyframe_wanted:
            self._keyframe_wanted = False
            self._frame_index = loop.next_keyframe(self._frame_index)
        index = self._frame_index
        self._frame_index = (index + 1) % loop.frames
        return loop.packets[index], index


_FLASHES: dict[tuple[str, VideoFormat], tuple[bytes, ...]] = {}


def flash_packets(codec: str, video_format: VideoFormat) -> tuple[bytes, ...]:
    """The sync pattern's flash in `codec` at `video_format`, encoded once per process."""
    key = (codec, video_format)
    packets = _FLASHES.get(key)
    if packets is None:
        packets = _FLASHES[key] = encode_flash(video_encoder(codec, video_format),
                                               FLASH_FRAMES)
    return packets


class SpeechTrack(MediaStreamTrack):
    """The synthetic voice in 20 ms blocks at 48 kHz, paced in real time: Opus packets once
    the call negotiated Opus, else s16 AudioFrames for aiortc to encode."""

    kind = "audio"

    def __init__(self, synth: SpeechSynth, codec: str | None = None) -> None:
        super().__init__()
        self.synth = synth
        self._codec: str | None = None
        self.use_codec(codec)
        self._opus: OpusVoice | None = None
        self._start: float | None = None
        self._blocks = 0
        # the sync pattern's clicks (terminals/sync_pattern.py); None: the voice only
        self.sync: SyncPattern | None = None

    @property
    def codec(self) -> str | None:
        return self._codec

    def use_codec(self, codec: str | None) -> None:
        """The audio codec the call negotiated ("OPUS", "G722", "PCMU", "PCMA"), as SDP
        names it. Until it is known the track sends frames, which aiortc encodes whatever
        the codec."""
        self._codec = codec.upper() if codec else None

    async def recv(self) -> av.Packet | av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.time()
        sync = self.sync
        block_s = AUDIO_BLOCK_SAMPLES / SAMPLE_RATE
        if self._start is None:
            # with the sync pattern, blocks are captured on the wall clock's 20 ms grid
            self._start = now if sync is None else aligned_start(now, block_s)
        elif sync is not None:  # on the grid (the pattern may be switched on mid-call)
            self._start = aligned_start(self._start, block_s)
        due = self._start + self._blocks * block_s
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > 0.1:
            self._start = now - self._blocks * block_s
            if sync is not None:
                self._start = aligned_start(self._start, block_s)
        block_time = self._start + self._blocks * block_s
        pts = self._blocks * AUDIO_BLOCK_SAMPLES
        self._blocks += 1

        def click(samples: np.ndarray) -> np.ndarray:
            assert sync is not None
            return sync.add_click(samples, block_time, SAMPLE_RATE)

        shape = click if sync is not None else None
        if self._codec == "OPUS":
            return self.opus_voice.next_packet(pts, shape)
        samples = self.synth.next_block_s16(AUDIO_BLOCK_SAMPLES)
        return _stereo_frame(samples if shape is None else shape(samples), pts)

    @property
    def opus_voice(self) -> OpusVoice:
        """Where the Opus packets come from (made when the first one is wanted)."""
        if self._opus is None:
            self._opus = OpusVoice(self.synth)
        return self._opus


def _stereo_frame(samples: np.ndarray, pts: int) -> av.AudioFrame:
    # Stereo with both channels equal: a mono frame would be upmixed by the encoder's
    # resampler at -3 dB, and the level heard would no longer be the level spoken.
    interleaved = np.repeat(samples, 2).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return frame


def decode_packets(codec: str, packets: list[bytes]) -> list[np.ndarray]:
    """Decode a sequence of packets of `codec` to BGR pictures (tests and tools)."""
    decoder = av.CodecContext.create({"H264": "h264", "VP8": "vp8"}[codec], "r")
    assert isinstance(decoder, av.VideoCodecContext)
    pictures = []
    for data in packets:
        for frame in decoder.decode(av.Packet(data)):
            pictures.append(frame.to_ndarray(format="bgr24"))
    return pictures
