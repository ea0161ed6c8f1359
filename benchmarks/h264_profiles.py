"""H.264 profile cost: the MCU's encoder (mcu/media/video_encoders.py X264Encoder) in
Constrained Baseline (every site booked H.264 or auto) and in High (a site booked H.264 HP:
CABAC and the 8x8 transform on top of the ultrafast preset), side by side in the same run
on the same pictures, one thread each, and the bytes each spends at the same rate target.

    python -m benchmarks.h264_profiles [--size 1280x720] [--fps 30] [--seconds 4] [--json FILE]

Pictures: a simulated terminal's camera scene (terminals/scene.py, moving, with its
markers) at the size asked, the kind of picture the compositor hands the encoders. Figures:
frames encoded per second of one core's CPU time (time.process_time of this thread) and
kbit/s of the stream at the format's frame rate.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import av

from mcu.media.output_format import H264, HIGH, OutputFormat, PictureSize, default_bitrate
from mcu.media.video_encoders import EncoderTuning, open_encoder
from rtc.h264_sps import find_sps
from terminals.marker import MAX_LOOP_FRAMES
from terminals.scene import CameraScene


def measure(profile: str | None, pictures: list[av.VideoFrame], fps: int) -> dict[str, object]:
    width, height = pictures[0].width, pictures[0].height
    output = OutputFormat(H264, width, height, fps,
                          default_bitrate(PictureSize(width, height, fps)), profile)
    encoder = open_encoder(output, EncoderTuning())
    first = b""
    size = 0
    started = time.thread_time()
    for index, picture in enumerate(pictures):
        for packet in encoder.encode(picture, index * 90_000 // fps, index == 0):
            first = first or bytes(packet)
            size += packet.size
    spent = time.thread_time() - started
    encoder.close()
    sps = find_sps(first)
    return {
        "profile": profile or "constrained-baseline",
        "sps_profile_level_id": sps.profile_level_id if sps else None,
        "encode_fps_per_core": round(len(pictures) / spent, 1),
        "kbps": round(size * 8 * fps / len(pictures) / 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    count = int(args.fps * args.seconds)
    loop = min(count, MAX_LOOP_FRAMES)  # the scene's loop; longer runs go round it
    scene = CameraScene(1, "Site 1", width, height, loop_frames=loop)
    pictures = [av.VideoFrame.from_ndarray(scene.frame(i % loop), format="bgr24").reformat(
        format="yuv420p") for i in range(count)]
    results = [measure(None, pictures, args.fps), measure(HIGH, pictures, args.fps)]
    for row in results:
        print(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
