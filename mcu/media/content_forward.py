"""The content stream forwarded unchanged: the holder's encoded frames to the other sites.

`ContentTap` replaces the decoder queue of a site's content receiver (rtc/aiortc_hooks.py
replace_decoder_queue): aiortc's receiver puts every frame it reassembles there, on the
event loop, before any decoding. The tap hands each encoded frame to the conference (which
forwards the holder's and drops everyone else's) and passes it on to aiortc's decoder thread
only while the conference wants the holder's content as pixels (a CP pane, a single-stream
site, a transcode: ConferenceMedia.content_decode_wanted); a decoder that starts mid-stream
is fed from the next keyframe on.

`ContentForwarder` is what the receiving sites' content tracks (SiteVideoTrack) join, as
they join an EncoderGroup for the main picture: each encoded frame of the current source
becomes one av.Packet that aiortc's sender only re-packetizes (new SSRC, sequence numbers
and SRTP keys per receiver; the payload unchanged), its timestamps rebased so that they run
on without a jump when the source changes. A keyframe request (PLI/FIR) of any receiver goes
to the sender, at most one per `min_interval` (a later one waits, it is not lost); a new
receiver or a new source asks at once.
"""

from __future__ import annotations

import asyncio
import fractions
import queue
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import av

from rtc.encoded_frames import is_keyframe

if TYPE_CHECKING:
    from mcu.media.encoder_group import SiteVideoTrack

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
KEYFRAME_REQUEST_INTERVAL_S = 0.3
SWITCH_GAP = 3000  # 33 ms at 90 kHz between the old source's last frame and the new one's

ContentFrame = Callable[[str, bytes, int], None]  # (codec name, encoded data, RTP timestamp)


class ContentTap(queue.Queue):
    """The decoder queue of a site's content receiver."""

    def __init__(self, on_frame: ContentFrame) -> None:
        super().__init__()
        self.on_frame = on_frame
        self.frames_received = 0
        self._decode = False
        self._awaiting_keyframe = True

    @property
    def decode(self) -> bool:
        return self._decode

    @decode.setter
    def decode(self, decode: bool) -> None:
        if decode and not self._decode:
            self._awaiting_keyframe = True
        self._decode = decode

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:  # the receiver stops: its decoder thread must end
            super().put(item, block, timeout)
            return
        codec, encoded = item
        if self.admit(codec.name, encoded.data, encoded.timestamp):
            super().put(item, block, timeout)

    def admit(self, codec: str, data: bytes, timestamp: int) -> bool:
        """One encoded frame of the site's content: handed to the conference; True when it
        is to be decoded as well (decoding is on, and from a keyframe on). A content stream
        received outside aiortc (a SIP site's RTP session) calls this for every frame."""
        self.frames_received += 1
        keyframe = is_keyframe(codec, data)
        self.on_frame(codec, data, timestamp)
        if not self._decode:
            return False
        if self._awaiting_keyframe:
            if not keyframe:
                return False
            self._awaiting_keyframe = False
        return True


class ContentForwarder:
    """The sites that receive the current content source's frames unchanged."""

    def __init__(self, ask_keyframe: Callable[[], None],
                 min_interval: float = KEYFRAME_REQUEST_INTERVAL_S) -> None:
        self.ask_keyframe = ask_keyframe  # PLI to the current source
        self.min_interval = min_interval
        self.subscribers: set[SiteVideoTrack] = set()
        self.source: str | None = None
        self.codec: str | None = None
        self.frames_forwarded = 0
        self.keyframes_forwarded = 0
        self.keyframes_asked = 0
        self._last_asked = float("-inf")
        self._deferred: asyncio.TimerHandle | None = None
        self._origin_in: int | None = None
        self._origin_out = 0
        self._last_out: int | None = None

    # -- what SiteVideoTrack calls (as of an EncoderGroup) ---------------------------

    def subscribe(self, track: SiteVideoTrack) -> None:
        """A new receiver: it starts at a keyframe, asked for now."""
        self.subscribers.add(track)
        self._ask_now()

    def unsubscribe(self, track: SiteVideoTrack) -> None:
        self.subscribers.discard(track)

    def request_keyframe(self) -> None:
        """A receiver's PLI/FIR: passed to the sender, at most one per min_interval; one
        too soon is sent when the interval is over."""
        wait = self._last_asked + self.min_interval - time.monotonic()
        if wait <= 0:
            self._ask_now()
        elif self._deferred is None:
            self._deferred = asyncio.get_running_loop().call_later(wait, self._ask_deferred)

    # -- the conference --------------------------------------------------------------

    def switch_source(self, source: str | None) -> None:
        """Forward `source`'s frames from now on (None: nobody's). Every receiver waits for
        the new source's first keyframe, which is asked for at once."""
        if source == self.source:
            return
        self.source = source
        self.codec = None
        self._origin_in = None
        if self._last_out is not None:
            self._origin_out = self._last_out + SWITCH_GAP
        for track in list(self.subscribers):
            track.restart()
        if source is not None:
            self._ask_now()

    def forward(self, codec: str, data: bytes, timestamp: int) -> None:
        """One encoded frame of the current source to every receiver."""
        if not data:
            return
        if self._origin_in is None:
            self._origin_in = timestamp
        self.codec = codec
        packet = av.Packet(data)
        packet.pts = self._origin_out + (timestamp - self._origin_in)
        packet.time_base = VIDEO_TIME_BASE
        packet.is_keyframe = is_keyframe(codec, data)
        self._last_out = packet.pts
        self.frames_forwarded += 1
        self.keyframes_forwarded += bool(packet.is_keyframe)
        for track in list(self.subscribers):
            track.push(packet)

    def close(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        for track in list(self.subscribers):
            track.leave_group(self)

    # -- internals -------------------------------------------------------------------

    def _ask_now(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._last_asked = time.monotonic()
        self.keyframes_asked += 1
        self.ask_keyframe()

    def _ask_deferred(self) -> None:
        self._deferred = None
        self._ask_now()
