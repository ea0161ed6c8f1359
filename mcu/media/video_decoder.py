"""A site's main video decoded on aiortc's decoder thread, straight into its frame slot.

aiortc's decoder thread hands every decoded picture to the event loop one by one
(run_coroutine_threadsafe into the remote track's unbounded queue), where a pump task
reads them. While the loop runs late (a full collection, a burst of packets, a loaded
machine) the pictures pile up in the loop's ready queue and the track's queue, and each of
them holds a buffer of the decoder's frame pool. FFmpeg's pool keeps every buffer it ever
made until the decoder closes, so each call's decoder kept the memory of its worst backlog
for the rest of the call: in the soak (4 sites, loss, load 11), memray counted the live
decoders' pools at 54, 54, 72 and 132 plane buffers (3.0 to 7.8 MB each) against a floor
of 54, and malloc's memory in use drifted up by 5 MiB over 30 calls as calls with bigger
pools replaced calls with smaller ones (docs/benchmarks.md, "Soak: the decoders' frame
pools").

The MCU never wants more than the newest picture of a site (mcu/media/frame_slots.py).
A LatestPictureDecoder replaces the receiver's decoder queue (rtc/aiortc_hooks.py, as
mcu/media/inline_audio.py does for audio) and does the decoding inside `get()`, which only
aiortc's decoder thread calls: it takes each encoded frame, decodes it with aiortc's
decoder for the codec and puts every picture into the slot at once, replacing the previous
one, so a late loop never holds more than the slot's picture and the one a tick is
composing. The thread and its end are aiortc's own: `get()` returns only the None the
receiver puts when it stops, and aiortc's thread then ends the remote track as before. A
frame that fails to decode is skipped, the decoder keeps its state and the receiver is told
to ask its sender for a keyframe (aiortc's own handling of a decoding error).

The frames wait in a queue.SimpleQueue, not the queue.Queue aiortc makes: the receiver
puts and the decoder thread takes one item per picture of each site, and queue.Queue does
both in Python (a Condition: a lock, a waiter list and a notify per put), SimpleQueue in C.
py-spy found the MCU's loop in Condition.notify in 2 % of its samples with four sites, but
that is mostly waiting for the GIL, not CPU: measured alone, the hand-off costs 2-4 us of
CPU less per picture (0.64-0.88x), about 0.05 % of a core at 120 pictures a second.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder

from rtc.aiortc_hooks import decoder_error_flag, replace_decoder_queue

log = logging.getLogger(__name__)


class LatestPictureDecoder:
    def __init__(self, consume: Callable[[av.VideoFrame], None],
                 decode_failed: threading.Event | None = None) -> None:
        self._frames: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._consume = consume
        self._decode_failed = decode_failed
        self._decoder: Any = None
        self._codec_name: str | None = None
        self.frames_decoded = 0
        self.decode_errors = 0

    def put(self, item: Any) -> None:
        """Called by the receiver: `(codec, encoded_frame)`, or None when it stops."""
        self._frames.put(item)

    def qsize(self) -> int:
        """Frames put and not yet taken by the decoder thread."""
        return self._frames.qsize()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Run by aiortc's decoder thread: decode every frame the receiver puts until it
        puts None (it stops), and hand that None back."""
        while True:
            item = self._frames.get(block, timeout)
            if item is None:
                self._decoder = None
                return None
            codec, encoded_frame = item
            self._decode(codec, encoded_frame)

    def _decode(self, codec: Any, encoded_frame: Any) -> None:
        if codec.name != self._codec_name:
            self._decoder = on_one_thread(get_decoder(codec))
            self._codec_name = codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as error:  # keep the decoder's state, as aiortc does
            self.decode_errors += 1
            log.debug("video frame of %s not decoded: %r", codec.name, error)
            if self._decode_failed is not None:
                self._decode_failed.set()
            return
        for frame in frames:
            self.frames_decoded += 1
            self._consume(frame)


def on_one_thread(decoder: Any) -> Any:
    """aiortc's video decoder (H.264 or VP8: a PyAV context as its `codec`) decoding on the
    thread that calls it, with no threads of its own (aiortc leaves FFmpeg's default: for
    H.264, slice threads as many as the cores, each decode handed out to them and waited
    for; for VP8, libvpx's threads). The MCU decodes every site on a thread of its own
    already, so those threads only add their hand-offs: measured alone on the terminals'
    H.264 loops, 0.096-0.102 -> 0.069-0.071 ms of CPU a frame at 480x270, 0.77-1.06 ->
    0.69-0.80 at 1920x1080, no difference beyond the spread at 960x540 (docs/benchmarks.md,
    "Stop 21"; VP8 not measured). Set before the first decode opens the context; a decoder
    without such a context, or already open, is returned as it is."""
    context = getattr(decoder, "codec", None)
    if isinstance(context, av.CodecContext) and not context.is_open:
        context.thread_count = 1
    return decoder


def decode_video_latest(receiver: RTCRtpReceiver,
                        consume: Callable[[av.VideoFrame], None]) -> LatestPictureDecoder:
    """Install on a video receiver that has not started receiving; `consume` is called on
    the receiver's decoder thread."""
    decoder = LatestPictureDecoder(consume, decoder_error_flag(receiver))
    replace_decoder_queue(receiver, decoder)
    return decoder
