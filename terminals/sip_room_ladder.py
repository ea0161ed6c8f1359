"""A simulated SIP room's video as a send ladder (issue 17; docs/sip_media.md, "Asking SIP
sites for what their panes need"): its camera scene pre-encoded as a loop at its own format
and, when the MCU asks for less, at the asked size and rate, and the asks it follows.

The MCU asks two ways, and the room follows the latest ask of either:
- a re-INVITE whose main video states `a=imageattr:... recv [x=W,y=H]` (RFC 6236) and
  `a=framerate:F` (RFC 4566), also an answer of the MCU's to the room's own re-offer;
- an RTCP TMMBR (RFC 5104): a bit rate, mapped back to the largest ladder size whose bit rate
  at the ladder's rate fits it (rtp/tmmbr.py size_for_bitrate), answered with TMMBN.

The format sent is `ladder_format(own, W, H, F)` (terminals/media_sources.py, the WebRTC
terminals' rule: never larger or faster than its own). Each loop is encoded once, when first
asked for (the default executor), and kept; the track goes on from the new loop's next
keyframe (EncodedVideoTrack.switch_loop), so the MCU's decoder meets the new size at an IDR
and the marker's frame index runs on. A re-offer that replaces the video session (another
codec, say) starts the new one at the room's own format (`new_session`): the asks were the
old session's, and the MCU asks the new one again. Only H.264 (packetization mode 1) and VP8 calls send
loops: the terminals' encoders make those (libx264 constrained baseline, libvpx).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass, field

import av

from terminals.media_sources import (
    DEFAULT_LOOP_FRAMES,
    EncodedLoop,
    EncodedVideoTrack,
    ScaledScene,
    VideoFormat,
    encode_loop,
    ladder_format,
)
from terminals.scene import CameraScene

# the sizes a room maps a TMMBR back to (its encoder's presets: the MCU's ladder's sizes)
ROOM_LADDER: tuple[tuple[int, int], ...] = (
    (1920, 1080), (1280, 720), (960, 540), (640, 360), (480, 270), (320, 180))
ASK_KINDS = frozenset({"imageattr", "tmmbr"})


def loop_codec(codec_name: str, packetization_mode: int | None) -> str | None:
    """The loop encoder for a negotiated codec: H264 (mode 1) or VP8; None for others."""
    name = codec_name.upper()
    if name == "H264" and packetization_mode == 1:
        return "H264"
    return "VP8" if name == "VP8" else None


_START_CODE = re.compile(b"\x00\x00\x01")
H264_IDR, H264_SPS = 5, 7


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether an encoded frame is a keyframe: H.264 with an IDR slice or an SPS (Annex B),
    VP8 with its frame header's key frame bit 0 (RFC 6386 9.1)."""
    if codec == "VP8":
        return bool(data) and not data[0] & 1
    return any(match.end() < len(data) and data[match.end()] & 0x1F in (H264_IDR, H264_SPS)
               for match in _START_CODE.finditer(data))


class LoopTrack(EncodedVideoTrack):
    """EncodedVideoTrack whose packets say whether they are keyframes (an RtpSender waits
    for one after a keyframe request; aiortc's senders need not know)."""

    def __init__(self, site_index: int, codec: str) -> None:
        super().__init__(site_index)
        self.codec = codec

    async def recv(self) -> av.Packet:
        packet = await super().recv()
        packet.is_keyframe = is_keyframe(self.codec, bytes(packet))
        return packet


@dataclass
class Ask:
    how: str  # "imageattr" (a re-INVITE or an answer's) or "tmmbr"
    width: int
    height: int
    fps: int


@dataclass
class RoomLadder:
    site_index: int
    name: str
    own: VideoFormat
    honour: bool = True  # False: asks are noted, the room keeps sending its own format
    asks: list[Ask] = field(default_factory=list)  # every ask received, in order
    switches: list[VideoFormat] = field(default_factory=list)  # formats switched to
    encoded: list[VideoFormat] = field(default_factory=list)  # every loop encoded
    current: VideoFormat | None = None
    _loops: dict[tuple[str, VideoFormat], asyncio.Future[EncodedLoop]] = field(
        default_factory=dict)
    _tracks: list[tuple[str, LoopTrack]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scene = CameraScene(self.site_index, self.name, self.own.width, self.own.height,
                                 DEFAULT_LOOP_FRAMES)
        self.current = self.own

    @property
    def sending(self) -> VideoFormat:
        return self.current or self.own

    def _encode(self, codec: str, video_format: VideoFormat) -> EncodedLoop:
        scene = (self.scene if (video_format.width, video_format.height)
                 == (self.own.width, self.own.height)
                 else ScaledScene(self.scene, video_format.width, video_format.height))
        loop = encode_loop(scene, codec, video_format)
        self.encoded.append(video_format)
        return loop

    def loop(self, codec: str, video_format: VideoFormat) -> asyncio.Future[EncodedLoop]:
        """The loop of `codec` at `video_format`, encoded once (in the default executor)."""
        key = (codec, video_format)
        pending = self._loops.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(
                None, self._encode, codec, video_format)
            self._loops[key] = pending
        return pending

    def track(self, codec: str) -> LoopTrack:
        """A call's video track: the loop of the format sent now, once it is encoded."""
        track = LoopTrack(self.site_index, codec)
        self._tracks.append((codec, track))
        wanted = self.sending

        def ready(done: asyncio.Future[EncodedLoop]) -> None:
            if not done.cancelled() and done.exception() is None and track.loop is None:
                track.use_loop(done.result())

        self.loop(codec, wanted).add_done_callback(ready)
        return track

    def take(self, ask: Ask) -> VideoFormat | None:
        """Follow an ask: the format now sent (None when it is ignored)."""
        self.asks.append(ask)
        if not self.honour:
            return None
        video_format = ladder_format(self.own, ask.width, ask.height, ask.fps)
        if video_format != self.sending:
            self.current = video_format
            self.switches.append(video_format)
            for codec, track in list(self._tracks):
                if track.readyState != "live":
                    self._tracks.remove((codec, track))
                    continue
                self.loop(codec, video_format).add_done_callback(
                    functools.partial(self._switch, track, video_format))
        return video_format

    def new_session(self) -> None:
        """A new video session (another codec, SSRC or port: a re-offer that replaced it):
        the asks were for the session that ended (a TMMBR's entry names the SSRC of the
        stream it limits, RFC 5104 section 4.2.1; image attributes are the last
        offer/answer's), so the new one starts at the room's own format until it is asked
        again (the answer's image attributes, a TMMBR to the new SSRC). Its track is made
        after this, at that format."""
        if self.honour and self.sending != self.own:
            self.current = self.own
            self.switches.append(self.own)

    def _switch(self, track: LoopTrack, video_format: VideoFormat,
                done: asyncio.Future[EncodedLoop]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        if self.sending == video_format and track.readyState == "live":
            track.switch_loop(done.result())  # at the loop's next keyframe
