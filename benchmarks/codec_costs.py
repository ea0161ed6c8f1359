"""Codec costs of the SIP room systems' codecs (rtp/codecs.py): encode and decode frames per
second per core (one thread, CPU time of this process), each output group's codec at its
format, with libx264 constrained baseline 1080p measured in the same run as the anchor.

    python -m benchmarks.codec_costs [--frames N] [--json FILE] [--markdown FILE]

The pictures: a marker card over a grained gradient that pans 4 pixels a frame (inter frames
have motion to code), 30 distinct pictures cycled. Bit rates are the ones a room system would
get at that format. CPU time (not wall time) is what is divided, so a busy machine slows the
run but moves the figures less; the load average before and after is reported with them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import av
import numpy as np

from benchmarks.cpu_timing import cpu_seconds
from rtp.codecs import CODECS, Negotiated, VideoDecoder, VideoEncoder
from terminals.marker import MarkerPainter


@dataclass(frozen=True)
class Case:
    label: str
    codec: str
    fmtp: dict[str, str]
    size: tuple[int, int]
    bitrate: int
    anchor: bool = False


CASES = (
    Case("H.264 constrained baseline 1080p (anchor)", "H264",
         {"profile-level-id": "42e028", "packetization-mode": "1"}, (1920, 1080), 4_000_000, True),
    Case("H.261 CIF", "H261", {}, (352, 288), 768_000),
    Case("H.263 4CIF", "H263", {}, (704, 576), 1_500_000),
    Case("H.263+ 4CIF", "H263-1998", {}, (704, 576), 1_500_000),
    Case("H.264 High 1080p", "H264", {"profile-level-id": "640028", "packetization-mode": "1"},
         (1920, 1080), 4_000_000),
    Case("VP8 720p", "VP8", {}, (1280, 720), 2_000_000),
    Case("VP9 720p", "VP9", {}, (1280, 720), 2_000_000),
)


@dataclass
class Result:
    label: str
    frames: int
    encode_fps_per_core: float
    decode_fps_per_core: float
    bytes_per_frame: int
    anchor_ratio: float = 0.0  # encode fps / the anchor's encode fps


def pictures(width: int, height: int, count: int = 30) -> list[av.VideoFrame]:
    rng = np.random.default_rng(0)
    base = np.clip(np.linspace(50, 200, width + 4 * count)[None, :, None]
                   + rng.normal(0, 10, (height, width + 4 * count, 3)), 0, 255).astype(np.uint8)
    painter = MarkerPainter(width, height)
    out = []
    for n in range(count):
        bgr = np.ascontiguousarray(base[:, 4 * n : 4 * n + width])
        painter.draw(bgr, 1, n)
        out.append(av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(format="yuv420p"))
    return out


def measure(case: Case, frames: int) -> Result:
    codec = Negotiated(CODECS[case.codec.upper()], 96, case.fmtp)
    encoder = VideoEncoder(codec, *case.size, fps=30, bitrate=case.bitrate)
    encoder._ctx.thread_count = 1  # per core: one encoding thread
    source = pictures(*case.size)
    for frame in source[:5]:  # warm-up (the first keyframe, the rate control settling)
        encoder.encode(frame)
    encoded: list[bytes] = []
    encode_cpu = cpu_seconds(frames, lambda n: encoded.extend(
        e.data for e in encoder.encode(source[n % len(source)], keyframe=n == 0)))
    decoder = VideoDecoder(codec)
    decoder._ctx.thread_count = 1
    pictures_out: list[int] = []
    decode_cpu = cpu_seconds(len(encoded), lambda n: pictures_out.append(
        len(decoder.decode(encoded[n]))))
    decoded = sum(pictures_out)
    return Result(case.label, frames, round(frames / encode_cpu, 1),
                  round(decoded / decode_cpu, 1) if decode_cpu else 0.0,
                  sum(map(len, encoded)) // max(1, len(encoded)))


def markdown(results: Sequence[Result], load_before: tuple[float, ...],
             load_after: tuple[float, ...]) -> str:
    lines = [f"Load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min).", "",
             "| codec, format | encode fps/core | x anchor | decode fps/core | bytes/frame |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.label} | {r.encode_fps_per_core} | {r.anchor_ratio:.2f} | "
              f"{r.decode_fps_per_core} | {r.bytes_per_frame} |" for r in results]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = [measure(case, args.frames) for case in CASES]
    load_after = os.getloadavg()
    anchor = next(r for r, c in zip(results, CASES, strict=True) if c.anchor)
    for result in results:
        result.anchor_ratio = round(result.encode_fps_per_core / anchor.encode_fps_per_core, 2)
    table = markdown(results, load_before, load_after)
    print(table)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"load_before": load_before, "load_after": load_after,
                       "results": [asdict(r) for r in results]}, out, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
