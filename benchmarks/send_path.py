"""The MCU's send path alone: CPU per 1080p30 frame sent to 4 receivers, aiortc's sender
loop against the direct send path (mcu/media/direct_send.py), side by side in one run; the
direct path both ways: its packets protected and sent by rtc/batch_send.c (`direct`), and
by pylibsrtp and one `sendto` each (`direct_python`, as before it).

This process plays the MCU's sending side with its own objects: four calls (aiortc peer
connections), each with a SiteVideoTrack and a SiteAudioTrack as a site's call has,
sending to four aiortc receivers in a child process (`--receivers-child`) that count the
complete frames they get without decoding them (terminals/frame_counter.py), so the
child's work does not count here. Every 1/30 s one encoded 1080p frame (the MCU's own
x264 settings at 2048 kbit/s, `video_encoders.open_encoder`, of a moving noisy picture that
fills the VBV as a busy composed picture does) is pushed to the four video tracks as
`EncoderGroup.deliver` does, and every 20 ms one Opus packet of a mix to the four audio
tracks as the mixer does. CPU = this process's CPU time (every thread) over the window,
% of one core, and per video frame sent (its packets to four receivers, with the audio of
that 1/30 s); the same calls' RTCP (receiver reports, NACKs none on loopback) included in
both. First an idle round (the calls up and the pacing loop running, nothing pushed: the
process's fixed cost, reported as `idle` and subtracted in `*_over_idle`), then rounds
alternating the two paths (aiortc, direct, direct, aiortc, ...), each on fresh calls; the
load average is given with each round.

    python -m benchmarks.send_path [--rounds 2] [--seconds 10] [--json FILE]
    py-spy record -f raw -o FILE -- python -m benchmarks.send_path --only direct
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from app.child_process import dies_with_parent
from mcu.media.audio_mixer import SiteAudioTrack
from mcu.media.direct_send import send_directly
from mcu.media.encoder_group import SiteVideoTrack
from mcu.media.output_format import H264, OutputFormat
from mcu.media.video_encoders import EncoderTuning, open_encoder
from rtc import aiortc_hooks, aiortc_send_hooks
from rtc.ice import rtc_configuration
from rtc.opus_packets import OPUS_FRAME_SAMPLES, OpusPacketEncoder

RECEIVERS = 4
FPS = 30
OUTPUT = OutputFormat(H264, 1920, 1080, FPS, 2_048_000)
CLIP_FRAMES = 90  # 3 s, looped (a keyframe every 3 s: the first frame of the clip)
# "direct_python": the direct send path with its packets protected by pylibsrtp and sent one
# `sendto` each, as before rtc/batch_send.c ("direct": protected and sent in C, one sendmmsg)
MODES = ("aiortc", "direct_python", "direct")
IDLE = "idle"  # the calls up and the pacing loop running, nothing pushed: the fixed cost


@dataclass
class Round:
    mode: str
    seconds: float
    cpu_pct: float  # this process, % of one core
    us_per_frame: float  # CPU per video frame sent to the four receivers (with its audio)
    frames_sent: int
    frames_received_min: int  # the least any receiver counted in the window
    load_avg_1min: float


def encoded_clip() -> list[av.Packet]:
    """CLIP_FRAMES 1080p frames as the MCU's encoder writes them: a moving gradient with
    noise, so that x264 spends the bitrate a busy picture takes."""
    encoder = open_encoder(OUTPUT, EncoderTuning())
    rng = np.random.default_rng(17)
    rows = np.arange(OUTPUT.height, dtype=np.int32)[:, None]
    cols = np.arange(OUTPUT.width, dtype=np.int32)[None, :]
    packets: list[av.Packet] = []
    for index in range(CLIP_FRAMES):
        luma = ((rows + cols + index * 8) % 220 + 16).astype(np.uint8)
        noise = rng.integers(0, 24, size=(OUTPUT.height // 4, OUTPUT.width // 4), dtype=np.uint8)
        luma[: OUTPUT.height // 4, : OUTPUT.width // 4] += noise
        frame = av.VideoFrame.from_ndarray(
            np.concatenate([luma, np.full((OUTPUT.height // 2, OUTPUT.width), 128, np.uint8)]),
            format="yuv420p")
        packets += encoder.encode(frame, index * 3000, index == 0)
    return packets


TONE_AMPLITUDE = 6000
TONE_LEVEL_DBOV = round(20 * math.log10(TONE_AMPLITUDE / math.sqrt(2) / 32767))  # a sine's RMS


def opus_packets() -> list[av.Packet]:
    """One second of a spoken-level tone as the mixer's encoder writes it (50 packets, each
    of level TONE_LEVEL_DBOV)."""
    encoder = OpusPacketEncoder()
    samples = (np.sin(np.arange(OPUS_FRAME_SAMPLES * 50) * 2 * np.pi * 220 / 48_000)
               * TONE_AMPLITUDE).astype(np.int16)
    packets: list[av.Packet] = []
    for index in range(50):
        chunk = samples[index * OPUS_FRAME_SAMPLES:(index + 1) * OPUS_FRAME_SAMPLES]
        packets += encoder.encode(chunk, index * OPUS_FRAME_SAMPLES)
    return packets


class Child:
    """The receivers' process: one JSON line per command, one per answer."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls) -> Child:
        process = await asyncio.create_subprocess_exec(
            *dies_with_parent([sys.executable]), "-m", "benchmarks.send_path", "--receivers-child",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(process)

    async def ask(self, **command: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        return json.loads(await self.process.stdout.readline())

    async def stop(self) -> None:
        await self.ask(op="quit")
        await self.process.wait()


class Call:
    def __init__(self, direct: bool) -> None:
        self.pc = RTCPeerConnection(rtc_configuration())
        self.video = SiteVideoTrack("sip:bench")
        self.audio = SiteAudioTrack("sip:bench")
        audio = self.pc.addTransceiver(self.audio, direction="sendonly")
        video = self.pc.addTransceiver(self.video, direction="sendonly")
        video.setCodecPreferences([
            codec for codec in RTCRtpSender.getCapabilities("video").codecs
            if codec.name == "rtx" or (codec.name == "H264"
                                       and codec.parameters.get("profile-level-id") == "42e01f")])
        if direct:
            send_directly(audio.sender, self.audio)
            send_directly(video.sender, self.video)

    async def connect(self, child: Child, index: int) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await child.ask(op="answer", index=index, sdp=self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))


async def measure(child: Child, mode: str, seconds: float, clip: list[av.Packet],
                  audio: list[av.Packet]) -> Round:
    calls = [Call(direct=mode.startswith("direct")) for _ in range(RECEIVERS)]
    push = mode != IDLE
    send_batch = aiortc_send_hooks.SrtpSendPath._send_batch
    if mode == "direct_python":  # batch_send declines every batch: the Python way
        aiortc_send_hooks.SrtpSendPath._send_batch = (  # type: ignore[method-assign]
            lambda self, udp, address, packets: None)
    try:
        for index, call in enumerate(calls):
            await call.connect(child, index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while not all(call.pc.connectionState == "connected" for call in calls):
            if loop.time() > deadline:
                raise RuntimeError("the calls did not connect")
            await asyncio.sleep(0.05)
        frames = 0

        async def run(duration: float) -> None:
            nonlocal frames
            start = loop.time()
            tick = 0  # 10 ms ticks: video every 1/30 s (on the tick at or after), audio every 20 ms
            next_video = start
            while loop.time() - start < duration:
                now = start + tick * 0.01
                if now >= next_video:
                    packet = clip[frames % len(clip)]
                    for call in calls:  # EncoderGroup.deliver
                        if push:
                            call.video.push(packet)
                    frames += 1
                    next_video += 1 / FPS
                if tick % 2 == 0 and push:
                    packet = audio[(tick // 2) % len(audio)]
                    for call in calls:  # the mixer's tick
                        call.audio.push_packets([packet], TONE_LEVEL_DBOV)
                tick += 1
                await asyncio.sleep(max(0.0, start + tick * 0.01 - loop.time()))

        await run(2.0)  # warm-up: the first keyframe, the RTCP loops started
        before = await child.ask(op="counts")
        frames = 0
        cpu = time.process_time()
        wall = loop.time()
        await run(seconds)
        cpu = time.process_time() - cpu
        wall = loop.time() - wall
        after = await child.ask(op="counts")
        received = min(b - a for a, b in zip(before["frames"], after["frames"], strict=True))
        return Round(mode, round(wall, 2), round(100 * cpu / wall, 2),
                     round(1e6 * cpu / max(frames, 1), 1), frames, received,
                     os.getloadavg()[0])
    finally:
        aiortc_send_hooks.SrtpSendPath._send_batch = send_batch  # type: ignore[method-assign]
        await asyncio.gather(*(call.pc.close() for call in calls))
        await child.ask(op="close")


async def main(rounds: int, seconds: float, only: str | None = None) -> dict[str, Any]:
    aiortc_hooks.install()
    clip, audio = encoded_clip(), opus_packets()
    sizes = [packet.size for packet in clip]
    child = await Child.start()
    results: list[Round] = []
    load_before = os.getloadavg()
    try:
        order = [IDLE] + [mode for pair in range(rounds)
                          for mode in (MODES if pair % 2 == 0 else MODES[::-1])]
        for mode in order:
            if only is not None and mode not in (only, IDLE):
                continue
            result = await measure(child, mode, seconds, clip, audio)
            results.append(result)
            print(json.dumps(asdict(result)), flush=True)
    finally:
        await child.stop()
    idle = next(r for r in results if r.mode == IDLE)
    if only is not None:
        return {"rounds": [asdict(r) for r in results]}
    summary: dict[str, Any] = {mode: {
        "cpu_pct_mean": round(statistics.mean(r.cpu_pct for r in results if r.mode == mode), 2),
        "us_per_frame_mean": round(statistics.mean(r.us_per_frame for r in results
                                                   if r.mode == mode), 1),
    } for mode in MODES}
    for mode in MODES:  # what sending adds to the idle process
        summary[mode]["us_per_frame_over_idle"] = round(
            summary[mode]["us_per_frame_mean"] - idle.us_per_frame, 1)
    summary[IDLE] = {"cpu_pct": idle.cpu_pct, "us_per_frame": idle.us_per_frame}
    return {
        "clip": {"frames": len(clip), "mean_bytes": round(statistics.mean(sizes)),
                 "keyframe_bytes": sizes[0], "format": str(OUTPUT)},
        "receivers": RECEIVERS, "load_avg_before": load_before, "rounds": [asdict(r) for r in results],
        "summary": summary,
        "direct_to_aiortc_cpu": round(summary["direct"]["us_per_frame_mean"]
                                      / summary["aiortc"]["us_per_frame_mean"], 3),
        "direct_to_aiortc_over_idle": round(summary["direct"]["us_per_frame_over_idle"]
                                            / summary["aiortc"]["us_per_frame_over_idle"], 3),
        "batch_send_to_python_over_idle": round(
            summary["direct"]["us_per_frame_over_idle"]
            / summary["direct_python"]["us_per_frame_over_idle"], 3),
    }


async def receivers_child() -> None:
    """Answer each offer with a receiving peer connection whose receivers count complete
    frames without decoding; report the counts; close them; quit."""
    from terminals.frame_counter import FrameCountingQueue, count_frames

    aiortc_hooks.install()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pcs: dict[int, RTCPeerConnection] = {}
    counters: dict[int, FrameCountingQueue] = {}

    def reply(message: Any) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        if command["op"] == "answer":
            pc = RTCPeerConnection(rtc_configuration())
            await pc.setRemoteDescription(RTCSessionDescription(command["sdp"], "offer"))
            for transceiver in pc.getTransceivers():
                counter = count_frames(transceiver.receiver, decode=False)
                if transceiver.kind == "video":
                    counters[command["index"]] = counter
            await pc.setLocalDescription(await pc.createAnswer())
            pcs[command["index"]] = pc
            reply({"sdp": pc.localDescription.sdp})
        elif command["op"] == "counts":
            reply({"frames": [counters[index].frames_received for index in sorted(counters)]})
        elif command["op"] == "close":
            await asyncio.gather(*(pc.close() for pc in pcs.values()))
            pcs.clear()
            counters.clear()
            reply({})
        else:
            reply({})
            return


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="pairs of rounds (default 2)")
    parser.add_argument("--seconds", type=float, default=10.0, help="window of a round, s")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--only", choices=MODES,
                        help="that path's rounds only (to profile it: py-spy record -- ...)")
    parser.add_argument("--receivers-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receivers_child:
        asyncio.run(receivers_child())
        return
    result = asyncio.run(main(args.rounds, args.seconds, args.only))
    if args.only is not None:
        return
    print(json.dumps({key: result[key] for key in ("clip", "summary", "direct_to_aiortc_cpu",
                                                   "direct_to_aiortc_over_idle")}, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    cli()
