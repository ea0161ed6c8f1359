"""Encode once per distinct output, fan the packets out to every site that receives it.

An EncoderGroup is keyed by (picture, output format): the sites watching the same picture
with the same codec, size, frame rate and bitrate share one encoder. Each site's outgoing
video track (SiteVideoTrack) hands aiortc's RTCRtpSender the group's av.Packets; the sender
only packetizes them (encoder.pack), it never encodes. A keyframe request (PLI/FIR) from any
receiver asks the group for one keyframe, rate-limited, which every receiver of the group
gets.

Threading: the group's encoder is used only by the conference's render job on a worker
thread; subscribers, keyframe bookkeeping and packet delivery live on the event loop. A new
group's encoder is started by `warm_up` on a worker before the group takes part in a tick
(`ready`): x264's start (its first picture costs 35-70 ms at 1080p on this machine) would
otherwise hold up the conference's next tick, every group's, and leave a gap of 2-3 frames
right after the first keyframe (the first second of a recording, terminals/av_sync).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mcu.media.output_format import OutputFormat
from mcu.media.pictures import PictureKey
from mcu.media.video_encoders import EncoderTuning, VideoEncoder, open_encoder

if TYPE_CHECKING:
    from mcu.media.direct_send import PacketOutput

log = logging.getLogger(__name__)

# A storm of PLIs from many receivers costs at most one keyframe per 0.3 s, libwebrtc's
# sender limit (kMinKeyframeSendIntervalMs, video/encoder_rtcp_feedback.cc). A receiver
# whose keyframe was lost too asks again; at 1 s it waited up to a second for it.
KEYFRAME_MIN_INTERVAL_S = 0.3
TRACK_BACKLOG = 30  # packets a slow sender may fall behind before it restarts at a keyframe
RATE_WINDOW_S = 2.0


@dataclass(frozen=True, slots=True)
class GroupKey:
    picture: PictureKey  # what the sites watch
    format: OutputFormat


class RateMeter:
    """Events per second over the last RATE_WINDOW_S seconds of loop time."""

    def __init__(self, window: float = RATE_WINDOW_S) -> None:
        self._window = window
        self._times: collections.deque[float] = collections.deque()

    def record(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._window / 2)
        return len(self._times) / span

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self._window:
            self._times.popleft()


def grid_after(moment: float, period: float) -> float:
    """The first multiple of `period` (in loop time) after `moment`. Every group of a rate
    is due on the same instants, whenever it started, and a 30 fps grid is every other point
    of the 60 fps one: groups share ticks instead of each adding its own
    (ConferenceMedia.next_video_tick)."""
    return (math.floor(moment / period + 1e-6) + 1) * period


class PacketSink(Protocol):
    """What an EncoderGroup pushes its packets to: a site's SiteVideoTrack, or the
    recorder's input (mcu/media/recorder.py)."""

    uri: str
    backlog_restarts: int

    def push(self, packet: av.Packet) -> None: ...

    def leave_group(self, group: EncoderGroup) -> None: ...


class EncoderGroup:
    def __init__(
        self,
        key: GroupKey,
        tuning: EncoderTuning | None = None,
        *,
        keyframe_min_interval: float = KEYFRAME_MIN_INTERVAL_S,
    ) -> None:
        self.key = key
        self.tuning = tuning or EncoderTuning()
        self.keyframe_min_interval = keyframe_min_interval
        self.subscribers: set[PacketSink] = set()
        self.frames_encoded = 0
        self.keyframes_encoded = 0
        self.bytes_encoded = 0
        self.encoder_opened = 0  # how many encoders this group ever opened (1 unless closed)
        self.output_rate = RateMeter()
        self.next_due = 0.0
        self._paced = False  # whether is_due has put the group on its rate's grid
        self._encoder: VideoEncoder | None = None
        self._keyframe_wanted = True  # the first frame of a group is a keyframe anyway
        self._keyframe_now = False
        self._last_keyframe_at = float("-inf")
        self.ready = False  # the encoder started (warm_up); a group not ready is not due
        self._closed = False

    @property
    def format(self) -> OutputFormat:
        return self.key.format

    # -- on the event loop ------------------------------------------------------------

    def subscribe(self, track: PacketSink) -> None:
        """A site starts receiving this group: it needs a keyframe now, not within the rate
        limit (a control operation moved it; that is no storm of receiver requests)."""
        self.subscribers.add(track)
        self._keyframe_now = True

    def unsubscribe(self, track: PacketSink) -> None:
        self.subscribers.discard(track)

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    def take_keyframe_request(self, now: float) -> bool:
        """Whether the next encoded frame is a keyframe. A request made too soon after the
        last keyframe waits until the interval is over (it is not lost)."""
        if not self._keyframe_now and (
            not self._keyframe_wanted or now - self._last_keyframe_at < self.keyframe_min_interval
        ):
            return False
        self._keyframe_wanted = self._keyframe_now = False
        self._last_keyframe_at = now
        return True

    def is_due(self, now: float) -> bool:
        """Frame pacing at the group's own frame rate inside the conference tick."""
        if now + 1e-3 < self.next_due:
            return False
        period = 1.0 / self.format.fps
        if self._paced:  # on its grid; a late tick may catch up one frame, no more
            self.next_due += period
            if self.next_due < now - period:
                self.next_due = grid_after(now - period, period)
        else:  # its first frame now, then the rate's grid
            self.next_due, self._paced = grid_after(now, period), True
        return True

    def deliver(self, packets: list[av.Packet], now: float) -> None:
        if packets:
            self.output_rate.record(now)
        for packet in packets:
            for track in list(self.subscribers):
                track.push(packet)

    # -- on the render thread ---------------------------------------------------------

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool) -> list[av.Packet]:
        if self._encoder is None:
            self._encoder = open_encoder(self.format, self.tuning)
            self.encoder_opened += 1
            keyframe = True
        packets = self._encoder.encode(frame, pts, keyframe)
        self.frames_encoded += 1
        for packet in packets:
            self.bytes_encoded += packet.size
            self.keyframes_encoded += bool(packet.is_keyframe)
        return packets

    def warm_up(self, pts: int) -> None:
        """On a worker, before the group's first tick: open the encoder and pass it one black
        picture (its packets dropped; `pts` earlier than any tick's), so that x264's start
        is paid here. The group's first real picture is a keyframe all the same (the group
        wants one from its creation). A failure is left to the tick's encode to report."""
        try:
            if self._encoder is None and not self._closed:
                encoder = open_encoder(self.format, self.tuning)
                black = av.VideoFrame(self.format.width, self.format.height, "yuv420p")
                for plane, level in zip(black.planes, (16, 128, 128), strict=True):
                    plane.update(bytes([level]) * plane.buffer_size)
                encoder.encode(black, pts, True)
                if self._closed:
                    encoder.close()
                else:
                    self._encoder = encoder
                    self.encoder_opened += 1
        except Exception:
            log.exception("group %s: the encoder could not be started ahead", self.key)
        finally:
            self.ready = True

    def close(self) -> None:
        self._closed = True
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        for track in list(self.subscribers):
            track.leave_group(self)


class PacketSource(Protocol):
    """What a SiteVideoTrack joins: an EncoderGroup, or the content forwarder
    (mcu/media/content_forward.py); it pushes packets to its subscribers."""

    def subscribe(self, track: SiteVideoTrack) -> None: ...

    def unsubscribe(self, track: SiteVideoTrack) -> None: ...

    def request_keyframe(self) -> None: ...


class SiteVideoTrack(MediaStreamTrack):
    """A site's outgoing video (its main picture, or its content stream): the packets of
    whichever source (encoder group, content forwarder) it currently belongs to.

    When the site moves to another source (another picture or format) it waits for that
    source's next keyframe, so its decoder never sees a P-frame of a stream it did not start.

    Its packets wait in a backlog for aiortc's sender to `recv()` them, or, once a direct
    sender attached its output (mcu/media/direct_send.py), go to that output as they are
    pushed, in the call chain of the group's delivery.
    """

    kind = "video"

    def __init__(self, uri: str) -> None:
        super().__init__()
        self.uri = uri
        self.group: PacketSource | None = None
        self.packets_sent = 0
        self.last_sent_at: float | None = None  # time.monotonic() of the latest packet sent
        self.backlog_restarts = 0  # times the sender fell TRACK_BACKLOG behind
        self._backlog: collections.deque[av.Packet] = collections.deque()
        self._ready = asyncio.Event()
        self._awaiting_keyframe = True
        self._output: PacketOutput | None = None

    def attach_output(self, output: PacketOutput) -> None:
        """From now on every packet goes to `output` when pushed; what waits in the backlog
        goes first, in order."""
        self._output = output
        while self._backlog and self._output is output:
            self._send(output, self._backlog.popleft())

    def detach_output(self, output: PacketOutput) -> None:
        if self._output is output:
            self._output = None

    def _send(self, output: PacketOutput, packet: av.Packet) -> None:
        self.packets_sent += 1
        self.last_sent_at = time.monotonic()
        output.send(packet)

    def join_group(self, group: PacketSource | None) -> None:
        if group is self.group:
            return
        if self.group is not None:
            self.group.unsubscribe(self)
        self.group = group
        self._backlog.clear()
        self._awaiting_keyframe = True
        if group is not None:
            group.subscribe(self)

    def leave_group(self, group: PacketSource) -> None:
        if self.group is group:
            self.join_group(None)

    def restart(self) -> None:
        """Its source's stream starts over (another sender behind it): drop what is queued
        and wait for the next keyframe."""
        self._backlog.clear()
        self._awaiting_keyframe = True

    def request_keyframe(self) -> None:
        """A PLI/FIR from the receiver (rtc.aiortc_hooks.on_keyframe_request)."""
        if self.group is not None:
            self.group.request_keyframe()

    def push(self, packet: av.Packet) -> None:
        if self._awaiting_keyframe:
            if not packet.is_keyframe:
                return
            self._awaiting_keyframe = False
        if self._output is not None:
            self._send(self._output, packet)
            return
        if len(self._backlog) >= TRACK_BACKLOG:
            # The sender stalled; old packets are useless now. Restart at a keyframe.
            self._backlog.clear()
            self._awaiting_keyframe = True
            self.backlog_restarts += 1
            self.request_keyframe()
            return
        self._backlog.append(packet)
        self._ready.set()

    async def recv(self) -> Any:
        while not self._backlog:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.packets_sent += 1
        self.last_sent_at = time.monotonic()
        return self._backlog.popleft()

    def stop(self) -> None:
        self.join_group(None)
        super().stop()
        self._ready.set()  # wake recv() so the sender sees the end
        if self._output is not None:
            self._output.end()  # likewise a direct sender
