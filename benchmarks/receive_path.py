"""The MCU's receive path: CPU per site received (a 720p30 H.264 stream and its Opus voice),
the path as it was (aiortc's per-packet handling wrapped by the counting hook, aioice's STUN
parse of every datagram, a coroutine chain per datagram, a jitter buffer that searched its
frame on every packet, Opus decoded to stereo and averaged back to mono) against the new one
(rtc/receive_path.py, the jitter buffer's skipped searches, rtc/opus_packets.MonoOpusDecoder),
side by side in one run; and between them that path with its datagrams read, unprotected
and queued in Python (`python_reads`), as it was before rtc/batch_receive.c reads them with
one recvmmsg and unprotects the media in C, and that path with the video receiver's
per-packet work in Python (`python_frames`), as it was before rtc/rtp_receive.c does it.

A sender child process sends what a simulated terminal sends (the terminals' pre-encoded
1280x720@30 H.264 loop, terminals/media_sources.py, and its Opus voice) over a real peer
connection (ICE, DTLS, SRTP) to this process, whose receiver is set up as the MCU sets up a
site's (mcu/media/webrtc_call.py `_tune_transceivers`): RTP counts, Opus decoded inline
into a mix input, the video decoded on the receiver's thread into a frame slot, no REMB, the
marker jitter buffers. Rounds alternate the two variants, each on a fresh connection, after
a warm-up; measured over each window:

  - `loop_cpu_pct`: the event loop thread's CPU time (the receive path's Python work: reading
    datagrams, SRTP, RTP parsing, stats, NACK, jitter buffer, hand-off, Opus decoding), in %
    of one core;
  - `process_cpu_pct`: the whole process's (the decoder thread's H.264 decoding included);
  - frames decoded per second and audio frames per second (both variants must get them all).

The sender's CPU is its own process's and not counted. CPU time, not wall time, so a busy
machine weighs less on the figures (it still stretches caches and the GIL's hand-overs).

    python -m benchmarks.receive_path [--rounds 2] [--warmup 3] [--window 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any

import aioice.ice
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

from mcu.media.audio_mixer import AudioInput
from mcu.media.frame_slots import LatestFrameSlot
from mcu.media.inline_audio import decode_audio_inline
from mcu.media.video_decoder import decode_video_latest
from rtc import aiortc_hooks, receive_path
from rtc.audio_jitter_buffer import release_audio_at_once
from rtc.bandwidth_estimation import disable_bitrate_estimation
from rtc.jitter_buffer import MarkerJitterBuffer, release_frames_at_marker
from rtc.rtp_counts import RtpCounts
from terminals.media_sources import (
    DEFAULT_LOOP_FRAMES,
    DEFAULT_VIDEO_FORMAT,
    EncodedVideoTrack,
    SpeechTrack,
    encode_loop,
)
from terminals.scene import CameraScene
from terminals.speech import SpeechSynth

# "python_reads": rtc/receive_path.py as it was before rtc/batch_receive.c, every datagram
# read, unprotected and queued in Python (the batch reader never put in place);
# "python_frames": read in batches, the video receiver's per-packet work in Python, as before
# rtc/rtp_receive.c (the receiver never claimed, rtc/claimed_receivers.py)
VARIANTS = ("before", "python_reads", "python_frames", "receive_path")


@dataclass
class Result:
    variant: str
    round: int
    window_s: float
    loop_cpu_pct: float
    process_cpu_pct: float
    video_fps: float
    audio_fps: float
    rtp_packets_per_s: float
    load_average: float


# -- the sender (child process) -------------------------------------------------------------

def _sender(conn: Connection) -> None:
    asyncio.run(_send(conn))


async def _send(conn: Connection) -> None:
    aiortc_hooks.install()
    fmt = DEFAULT_VIDEO_FORMAT
    loop = encode_loop(CameraScene(0, "Site 0", fmt.width, fmt.height, DEFAULT_LOOP_FRAMES),
                       "H264", fmt)
    conn.send("ready")
    wait = asyncio.get_running_loop().run_in_executor
    while (command := await wait(None, conn.recv)) == "call":
        pc = RTCPeerConnection()
        video = pc.addTransceiver(EncodedVideoTrack(0, loop), direction="sendonly")
        video.setCodecPreferences([codec for codec in RTCRtpSender.getCapabilities("video").codecs
                                   if codec.mimeType in ("video/H264", "video/rtx")][:2])
        pc.addTransceiver(SpeechTrack(SpeechSynth(0), "OPUS"), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        conn.send(pc.localDescription.sdp)
        answer = await wait(None, conn.recv)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await wait(None, conn.recv)  # hang up
        await pc.close()
        conn.send("closed")
    assert command == "stop"


# -- the receiver (this process) ------------------------------------------------------------

class _ScanningJitterBuffer(MarkerJitterBuffer):
    """The marker jitter buffer as it was before rtc/receive_path.py: aiortc's add(), which
    scans the frame at the origin on every packet."""

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        newest = self._newest is None or uint16_gt(packet.sequence_number, self._newest)
        if newest:
            self._newest = packet.sequence_number
        pli_flag, frame = JitterBuffer.add(self, packet)
        if frame is None and self._codec_name is not None and (packet.marker or not newest):
            frame = self._keyframe_past_gap(packet)
        return pli_flag, frame


def _tune(pc: RTCPeerConnection, variant: str, audio_in: AudioInput,
          slot: LatestFrameSlot) -> list[Any]:
    """The receivers set up as webrtc_call's _tune_transceivers does; what counts them."""
    counts = RtpCounts()
    decoders: list[Any] = []
    for transceiver in pc.getTransceivers():
        receiver: RTCRtpReceiver = transceiver.receiver
        aiortc_hooks.count_rtp_and_feedback(receiver, transceiver.sender, counts)
        if variant != "before":
            receive_path.handle_rtp_in_one_step(receiver, counts)
        if transceiver.kind == "audio":
            audio = decode_audio_inline(receiver, audio_in.add)
            if variant == "before":  # aiortc's Opus decoder (stereo), as it was
                audio._decoder, audio._codec_name = OpusDecoder(), "opus"
            decoders.append(audio)
            release_audio_at_once(receiver)
        else:
            decoders.append(decode_video_latest(receiver, slot.put))
            disable_bitrate_estimation(receiver)
            release_frames_at_marker(receiver)
            if variant == "before":
                aiortc_hooks.replace_jitter_buffer(receiver, _ScanningJitterBuffer(
                    codec_name=functools.partial(aiortc_hooks.receiver_codec_name, receiver)))
    return decoders


def _use_process_wide(fast: bool) -> None:
    """rtc/receive_path.py's process-wide parts (the datagram demultiplexer, the batched DTLS
    receive) in place, or aioice's and aiortc's own."""
    protocol_class: Any = aioice.ice.StunProtocol
    transport_class: Any = RTCDtlsTransport
    if fast:
        protocol_class.datagram_received = receive_path.demux_datagram_received
        transport_class._recv_next = receive_path.recv_batch
    else:
        protocol_class.datagram_received = receive_path.AIOICE_DATAGRAM_RECEIVED
        transport_class._recv_next = receive_path.AIORTC_RECV_NEXT


def _loop_thread_cpu() -> float:
    return time.thread_time()


async def _round(conn: Connection, variant: str, index: int, warmup: float,
                 window: float) -> Result:
    wait = asyncio.get_running_loop().run_in_executor
    _use_process_wide(variant != "before")
    batch_reader = receive_path.read_media_in_batches
    claiming = receive_path.CLAIMING
    if variant == "python_reads":
        receive_path.read_media_in_batches = lambda transport: False
    receive_path.CLAIMING = variant == "receive_path"  # MCU_SIM_NATIVE_RECEIVE's switch
    try:
        conn.send("call")
        offer = await wait(None, conn.recv)
        pc = RTCPeerConnection()
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        audio_in, slot = AudioInput(), LatestFrameSlot()
        for transceiver in pc.getTransceivers():
            transceiver.direction = "recvonly"
        decoders = _tune(pc, variant, audio_in, slot)
        await pc.setLocalDescription(await pc.createAnswer())
        conn.send(pc.localDescription.sdp)
        await asyncio.sleep(warmup)
        video, audio = decoders  # the offer's order: video, then audio
        frames0, audio0 = video.frames_decoded, audio.frames_decoded
        packets0 = _packets(pc)
        loop0, process0, wall0 = _loop_thread_cpu(), time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        loop1, process1, wall1 = _loop_thread_cpu(), time.process_time(), time.monotonic()
        elapsed = wall1 - wall0
        result = Result(
            variant=variant, round=index, window_s=round(elapsed, 2),
            loop_cpu_pct=round(100 * (loop1 - loop0) / elapsed, 1),
            process_cpu_pct=round(100 * (process1 - process0) / elapsed, 1),
            video_fps=round((video.frames_decoded - frames0) / elapsed, 1),
            audio_fps=round((audio.frames_decoded - audio0) / elapsed, 1),
            rtp_packets_per_s=round((_packets(pc) - packets0) / elapsed, 1),
            load_average=round(os.getloadavg()[0], 1))
        conn.send("hangup")
        await pc.close()
        assert await wait(None, conn.recv) == "closed"
        return result
    finally:
        _use_process_wide(True)  # as aiortc_hooks.install() leaves the process
        receive_path.read_media_in_batches = batch_reader
        receive_path.CLAIMING = claiming


def _packets(pc: RTCPeerConnection) -> int:
    return sum(aiortc_hooks.receiver_rtp_packets(t.receiver) for t in pc.getTransceivers())


async def main(rounds: int, warmup: float, window: float) -> list[Result]:
    aiortc_hooks.install()
    assert threading.current_thread() is threading.main_thread()
    parent, child = multiprocessing.Pipe()
    sender = multiprocessing.Process(target=_sender, args=(child,), daemon=True)
    sender.start()
    wait = asyncio.get_running_loop().run_in_executor
    assert await wait(None, parent.recv) == "ready"
    results: list[Result] = []
    try:
        for index in range(rounds):
            for variant in VARIANTS:
                result = await _round(parent, variant, index, warmup, window)
                print(json.dumps(asdict(result)), flush=True)
                results.append(result)
    finally:
        parent.send("stop")
        sender.join(timeout=10)
    return results


def summary(results: list[Result]) -> dict[str, Any]:
    """Per variant: the median loop and process CPU; the new path's saving."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in results if r.variant == variant]
        out[variant] = {
            "loop_cpu_pct_median": round(statistics.median(r.loop_cpu_pct for r in mine), 2),
            "process_cpu_pct_median": round(
                statistics.median(r.process_cpu_pct for r in mine), 2),
            "video_fps_min": min(r.video_fps for r in mine),
            "audio_fps_min": min(r.audio_fps for r in mine),
        }
    before, after = out["before"], out["receive_path"]
    out["loop_cpu_saved_pct_points"] = round(
        before["loop_cpu_pct_median"] - after["loop_cpu_pct_median"], 1)
    out["batch_receive_saved_pct_points"] = round(
        out["python_reads"]["loop_cpu_pct_median"]
        - out["python_frames"]["loop_cpu_pct_median"], 1)
    out["rtp_receive_saved_pct_points"] = round(
        out["python_frames"]["loop_cpu_pct_median"] - after["loop_cpu_pct_median"], 1)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--json", help="write the rounds and the summary here")
    args = parser.parse_args()
    measured = asyncio.run(main(args.rounds, args.warmup, args.window))
    report = {"rounds": [asdict(r) for r in measured], "summary": summary(measured)}
    print(json.dumps(report["summary"]))
    if args.json:
        with open(args.json, "w", encoding="utf8") as f:
            json.dump(report, f, indent=1)
