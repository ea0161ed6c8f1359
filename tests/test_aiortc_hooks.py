"""The few places that reach into aiortc's private state still find it.

Each hook replaces or reads one name-mangled attribute of RTCRtpReceiver (or one internal of
its JitterBuffer) created in its constructor; an aiortc release that renames one would
otherwise turn a hook into a silent no-op. This fails instead, naming the hook.
"""

from __future__ import annotations

import inspect

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer

HOOKS = {
    "_RTCRtpReceiver__decoder_queue": "mcu/media/inline_audio.py, terminals/frame_counter.py",
    "_RTCRtpReceiver__jitter_buffer": "rtc/jitter_buffer.py",
    "_RTCRtpReceiver__remote_bitrate_estimator": "rtc/bandwidth_estimation.py",
    "_RTCRtpReceiver__remote_streams": "terminals/client.py request_keyframe",
    "_RTCRtpReceiver__rtx_ssrc": "terminals/client.py request_keyframe",
}


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_every_private_attribute_a_hook_uses_exists(kind):
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver(kind).receiver
        for attribute, used_by in HOOKS.items():
            assert hasattr(receiver, attribute), f"{attribute} (used by {used_by})"
    finally:
        await pc.close()


def test_the_receiver_still_feeds_those_attributes_as_the_hooks_expect():
    source = inspect.getsource(RTCRtpReceiver)
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "self.__jitter_buffer.add(packet)" in source
    assert "def _send_rtcp_pli(self, media_ssrc" in source
    buffer = JitterBuffer(capacity=16, is_video=True)
    assert {"_packets", "_origin", "_capacity"} <= set(vars(buffer))
