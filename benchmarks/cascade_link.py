"""What a cascade link costs each engine (mcu/media/cascade/, docs/cascade.md): the work the
link adds per frame, measured with the MCU's own parts (the compositor, the encoder groups'
libx264 at the MCU's tuning, PyAV's H.264 decoder, the tile cutter), beside the anchor
measured in the same run: what one engine spends per frame on the picture of a 4-site
conference of its own (CP_4_1 composed from four new 640x360 camera pictures, encoded once).

    python -m benchmarks.cascade_link [--frames N] [--json FILE] [--markdown FILE]

Per frame of the link's format, for a leaf of four sites:
  leaf: the tile picture composed (CP_4_1 of its four sites: what it composed for its own
        picture before) and encoded (one more encode), the root's picture decoded (one more
        decode) and copied full screen into its sites' picture (instead of their CP);
  root: the tile picture decoded (one more decode) and cut into four pictures; the picture
        sent down is the conference picture of its own sites' group when the link has their
        format (no more encode), else one more encode.
CPU time of this process (all threads; the encoder has one, as in the MCU) is divided, so a
busy machine slows the run but moves the figures less; the load average before and after is
reported with them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import av

from benchmarks.codec_costs import pictures
from benchmarks.cpu_timing import cpu_ms
from mcu.layouts import layout_mode
from mcu.media.cascade.tiles import TileCutter, tile_mode
from mcu.media.compositor import Compositor
from mcu.media.encoder_group import EncoderGroup, GroupKey
from mcu.media.output_format import H264, OutputFormat, default_bitrate, picture_size
from mcu.media.pictures import PictureKey, PictureKind
from mcu.model import VideoFormat

FORMATS = (VideoFormat.HD1080P30, VideoFormat.HD720P30, VideoFormat.CIF4)
SITES = ("s1", "s2", "s3", "s4")
CAMERA = (640, 360)


@dataclass
class Result:
    format: str
    frames: int
    anchor_ms: float  # compose CP_4_1 + encode: one engine's own 4-site picture
    compose_ms: float
    encode_ms: float
    decode_ms: float
    cut_ms: float
    full_screen_ms: float
    leaf_extra_ms: float  # encode + decode + full screen
    root_extra_ms: float  # decode + cut (the link at the sites' format: no encode)
    root_extra_other_format_ms: float  # + encode, when the link's format is not the sites'
    leaf_extra_core_pct: float  # of one core at the format's frame rate
    root_extra_core_pct: float
    leaf_vs_anchor: float
    root_vs_anchor: float


def cameras(count: int) -> list[dict[str, av.VideoFrame]]:
    """Per frame, a new picture object from each site (the compositor redraws every pane)."""
    loops = {uri: pictures(*CAMERA, count=10) for uri in SITES}
    return [{uri: _copy(loops[uri][n % 10]) for uri in SITES} for n in range(count)]


def _copy(frame: av.VideoFrame) -> av.VideoFrame:
    return av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")


def measure(video_format: VideoFormat, frames: int) -> Result:
    size = picture_size(video_format, video_format)
    output = OutputFormat(H264, size.width, size.height, size.fps, default_bitrate(size))
    sources = cameras(frames)
    mode = tile_mode(len(SITES))
    compositor = Compositor(size.width, size.height, mode)
    compositor.set_sub_pics(SITES)
    composed = [_copy(compositor.compose(sources[n])) for n in range(frames)]
    compose_ms = cpu_ms(frames, lambda n: compositor.compose(sources[n]))
    group = EncoderGroup(GroupKey(PictureKey(PictureKind.CP, ""), output))
    group.encode(composed[0], 0, True)  # the encoder opened and its first keyframe, unmeasured
    packets: list[list[av.Packet]] = []
    encode_ms = cpu_ms(frames, lambda n: packets.append(
        group.encode(composed[n], (n + 1) * 3000, n == 0)))
    group.close()
    decoder = av.CodecContext.create("h264", "r")
    decoder.thread_count = 1
    decoded: list[av.VideoFrame] = []

    def decode(n: int) -> None:
        for packet in packets[n]:
            decoded.extend(decoder.decode(packet))

    decode_ms = cpu_ms(frames, decode)
    cutter = TileCutter()
    cutter.arrange(mode, SITES)
    cut_ms = cpu_ms(len(decoded), lambda n: cutter.pictures(decoded[n]))
    full = Compositor(size.width, size.height, layout_mode("CP_1_1"))
    full.set_sub_pics(("root",))
    full_screen_ms = cpu_ms(len(decoded), lambda n: full.compose({"root": decoded[n]}))
    anchor = compose_ms + encode_ms
    leaf = encode_ms + decode_ms + full_screen_ms
    root = decode_ms + cut_ms
    frame_ms = 1000 / size.fps
    return Result(video_format.name, frames, round(anchor, 2), round(compose_ms, 2),
                  round(encode_ms, 2), round(decode_ms, 2), round(cut_ms, 2),
                  round(full_screen_ms, 2), round(leaf, 2), round(root, 2),
                  round(root + encode_ms, 2), round(100 * leaf / frame_ms, 1),
                  round(100 * root / frame_ms, 1), round(leaf / anchor, 2),
                  round(root / anchor, 2))


def markdown(results: Sequence[Result], load_before: tuple[float, ...],
             load_after: tuple[float, ...]) -> str:
    lines = [f"Load average before {load_before[0]:.1f}, after {load_after[0]:.1f} (1 min); "
             "CPU ms per frame (this process, all threads).", "",
             "| link format | anchor (own 4-site picture) | compose | encode | decode | cut 4 | "
             "full screen | leaf extra | root extra | root extra, other format | "
             "leaf % core | root % core | leaf / anchor | root / anchor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.format} | {r.anchor_ms} | {r.compose_ms} | {r.encode_ms} | {r.decode_ms} | "
              f"{r.cut_ms} | {r.full_screen_ms} | {r.leaf_extra_ms} | {r.root_extra_ms} | "
              f"{r.root_extra_other_format_ms} | {r.leaf_extra_core_pct} | "
              f"{r.root_extra_core_pct} | {r.leaf_vs_anchor} | {r.root_vs_anchor} |"
              for r in results]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = [measure(video_format, args.frames) for video_format in FORMATS]
    load_after = os.getloadavg()
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
