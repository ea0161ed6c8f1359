"""Audio-video sync and continuity of a recording or a live stream, read with PyAV.

    python -m terminals.av_sync FILE_OR_URL [--seconds S] [--gaps-after S] [--json OUT]

FILE_OR_URL: an MP4 recording, or an HLS playlist URL (with its player token, e.g.
http://host/live/<confId>/index.m3u8?token=...), read for at most --seconds of media.

The media is expected to carry the sync pattern of a terminal (terminals/sync_pattern.py,
`mcu-sim terminals --sync-pattern`): a white flash in its picture and a click in its voice
at the same capture instant. The tool finds:
- flashes: the picture is cut into a GRID x GRID grid of cells; a flash begins at the frame
  where a cell's mean luma jumps by at least FLASH_JUMP and reaches FLASH_LUMA (the pane of
  the flashing site, wherever the layout puts it, or the whole picture);
- clicks: the audio's first difference (which keeps the broadband click and damps the
  voice's low partials), its energy per 1 ms; a click begins at the first millisecond above
  CLICK_FACTOR times the median energy of the preceding half second and above an absolute
  floor, refined to the first sample of that millisecond above half its peak;
and pairs each flash with the nearest click within PAIR_WINDOW_S. The offset is
click - flash (positive: the audio is late). Also the video's frame rate (frames over its
span, and the stream's nominal rate), its largest gap between consecutive frames in frame
intervals, and the audio's duration against the video's.

Targets (exit status 1 when one is missed, 2 when the input cannot be read or holds no
event pair): |offset| <= 40 ms for every event, durations within 100 ms, no gap over 2
frames.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import av
import numpy as np

MAIN_TRACK = "main"  # the recorder's main picture track (its second is "content")
GRID = 4
FLASH_JUMP = 60.0  # luma levels (of 255) a cell rises by in one frame
FLASH_LUMA = 190.0
MIN_EVENT_GAP_S = 0.5  # one event per flash / click, however many frames it lasts
CLICK_FACTOR = 30.0
CLICK_FLOOR = 0.02  # of full scale squared: the click (~0.5), not a voice onset (~1e-3)
PAIR_WINDOW_S = 0.5

MAX_OFFSET_MS = 40.0
MAX_DURATION_DIFF_MS = 100.0
MAX_GAP_FRAMES = 2.0


@dataclass
class SyncReport:
    source: str
    video_frames: int = 0
    video_fps: float = 0.0
    nominal_fps: float | None = None
    max_gap_frames: float = 0.0  # counted from gaps_after_s on
    gaps_after_s: float = 0.0
    max_gap_frames_whole: float = 0.0  # over the whole video, and where it begins
    max_gap_at_s: float | None = None
    video_duration_s: float = 0.0
    audio_duration_s: float = 0.0
    flashes_s: list[float] = field(default_factory=list)
    clicks_s: list[float] = field(default_factory=list)
    events: list[dict[str, float]] = field(default_factory=list)  # video_s, audio_s, offset_ms
    failures: list[str] = field(default_factory=list)

    @property
    def max_abs_offset_ms(self) -> float | None:
        return max((abs(e["offset_ms"]) for e in self.events), default=None)

    @property
    def duration_diff_ms(self) -> float:
        return (self.audio_duration_s - self.video_duration_s) * 1000

    def document(self) -> dict[str, Any]:
        return {**asdict(self), "max_abs_offset_ms": self.max_abs_offset_ms,
                "duration_diff_ms": round(self.duration_diff_ms, 1),
                "targets": {"max_abs_offset_ms": MAX_OFFSET_MS,
                            "max_duration_diff_ms": MAX_DURATION_DIFF_MS,
                            "max_gap_frames": MAX_GAP_FRAMES},
                "passed": not self.failures}


def named_video(container: Any, name: str) -> Any:
    """The video stream the recorder named `name` ("main", "content"), or None. The
    recorder writes the name as the stream's "title"; FFmpeg's MP4 demuxer reads it back
    as "name" (from the track's udta), so both keys are looked at."""
    for stream in container.streams.video:
        if name in (stream.metadata.get("title"), stream.metadata.get("name")):
            return stream
    return None


def _main_video(container: Any) -> Any:
    """The recording's main picture track; the first video stream of anything else (an
    HLS stream has one)."""
    videos = list(container.streams.video)
    named = named_video(container, MAIN_TRACK)
    return named if named is not None else (videos[0] if videos else None)


def read_media(source: str, seconds: float | None) -> tuple[list[float], list[np.ndarray],
                                                             np.ndarray, float, int, float | None]:
    """(frame times, per-frame GRID x GRID cell lumas, mono float audio, audio start time,
    sample rate, nominal fps) of the main video and first audio stream."""
    times: list[float] = []
    cells: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    audio_start: float | None = None
    rate = 48000
    with av.open(source, options={"rw_timeout": "10000000"}) as container:
        video = _main_video(container)
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None or audio is None:
            raise ValueError(f"{source}: needs a video and an audio stream")
        rate_stated = (video.codec_context.framerate or video.guessed_rate
                       or video.average_rate)
        nominal = float(rate_stated) if rate_stated else None
        first: float | None = None
        for packet in container.demux(video, audio):
            for frame in packet.decode():
                if not isinstance(frame, av.VideoFrame | av.AudioFrame) or frame.pts is None \
                        or frame.time_base is None:
                    continue
                at = float(frame.pts * frame.time_base)
                first = at if first is None else first
                if seconds is not None and at - first > seconds:
                    break
                if isinstance(frame, av.VideoFrame):
                    times.append(at)
                    cells.append(_cell_lumas(frame.to_ndarray(format="gray")))
                    continue
                chunks.append(_mono(frame))
                if audio_start is None:
                    audio_start, rate = at, frame.sample_rate
            else:
                continue
            break
    pcm = np.concatenate(chunks) if chunks else np.zeros(0)
    return times, cells, pcm, audio_start or 0.0, rate, nominal


def _mono(frame: av.AudioFrame) -> np.ndarray:
    """The frame's samples as mono floats of full scale 1."""
    samples = frame.to_ndarray().astype(np.float64)
    if frame.format.name.startswith("s16"):
        samples /= 32768.0
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return samples.reshape(channels, -1).mean(axis=0)
    return samples.reshape(-1, channels).mean(axis=1)


def _cell_lumas(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    h, w = h // GRID * GRID, w // GRID * GRID
    return gray[:h, :w].reshape(GRID, h // GRID, GRID, w // GRID).mean(axis=(1, 3))


def find_flashes(times: list[float], cells: list[np.ndarray]) -> list[float]:
    flashes: list[float] = []
    for index in range(1, len(cells)):
        rise = cells[index] - cells[index - 1]
        if np.any((rise >= FLASH_JUMP) & (cells[index] >= FLASH_LUMA)):
            if not flashes or times[index] - flashes[-1] >= MIN_EVENT_GAP_S:
                flashes.append(times[index])
    return flashes


def find_clicks(pcm: np.ndarray, start: float, rate: int) -> list[float]:
    window = rate // 1000
    diff = np.diff(pcm, prepend=pcm[:1])
    count = len(diff) // window
    if count == 0:
        return []
    energy = (diff[:count * window] ** 2).reshape(count, window).mean(axis=1)
    history = int(0.5 * 1000)
    clicks: list[float] = []
    last = -math.inf
    for index in range(1, count):
        if index - last < MIN_EVENT_GAP_S * 1000:
            continue
        background = np.median(energy[max(0, index - history):index])
        if energy[index] > max(CLICK_FACTOR * background, CLICK_FLOOR):
            block = np.abs(diff[index * window:(index + 2) * window])
            first = int(np.argmax(block >= 0.5 * block.max()))
            clicks.append(start + (index * window + first) / rate)
            last = index
    return clicks


def pair(flashes: list[float], clicks: list[float]) -> list[dict[str, float]]:
    events = []
    for flash in flashes:
        near = [c for c in clicks if abs(c - flash) <= PAIR_WINDOW_S]
        if near:
            click = min(near, key=lambda c: abs(c - flash))
            events.append({"video_s": round(flash, 4), "audio_s": round(click, 4),
                           "offset_ms": round((click - flash) * 1000, 1)})
    return events


def measure(source: str, seconds: float | None = None, gaps_after: float = 0.0) -> SyncReport:
    """The report of `source` (at most `seconds` of it); frame gaps are counted from
    `gaps_after` seconds past the first frame on (the whole video when 0)."""
    times, cells, pcm, audio_start, rate, nominal = read_media(source, seconds)
    report = SyncReport(source, video_frames=len(times), nominal_fps=nominal,
                        gaps_after_s=gaps_after)
    if len(times) >= 2:
        span = times[-1] - times[0]
        report.video_fps = round((len(times) - 1) / span, 2) if span > 0 else 0.0
        interval = 1 / (nominal or report.video_fps or 30)
        counted = [t for t in times if t >= times[0] + gaps_after]
        gaps = np.diff(counted) if len(counted) >= 2 else np.zeros(1)
        report.max_gap_frames = round(float(np.max(gaps)) / interval, 2)
        whole = float(np.max(np.diff(times)))
        report.max_gap_frames_whole = round(whole / interval, 2)
        report.max_gap_at_s = round(times[int(np.argmax(np.diff(times)))], 3)
        report.video_duration_s = round(span + interval, 4)
    report.audio_duration_s = round(len(pcm) / rate, 4)
    report.flashes_s = [round(t, 4) for t in find_flashes(times, cells)]
    report.clicks_s = [round(t, 4) for t in find_clicks(pcm, audio_start, rate)]
    report.events = pair(report.flashes_s, report.clicks_s)
    worst = report.max_abs_offset_ms
    if worst is not None and worst > MAX_OFFSET_MS:
        report.failures.append(f"|offset| {worst:.1f} ms > {MAX_OFFSET_MS:g} ms")
    if abs(report.duration_diff_ms) > MAX_DURATION_DIFF_MS:
        report.failures.append(f"audio - video duration {report.duration_diff_ms:.0f} ms")
    if report.max_gap_frames > MAX_GAP_FRAMES:
        report.failures.append(f"a gap of {report.max_gap_frames:g} frames")
    return report


def table(report: SyncReport) -> str:
    lines = [f"{report.source}",
             f"video: {report.video_frames} frames, {report.video_fps} fps "
             f"(nominal {report.nominal_fps}), {report.video_duration_s:.3f} s",
             f"largest gap {report.max_gap_frames} frames (from {report.gaps_after_s:g} s); "
             f"whole video {report.max_gap_frames_whole} frames at {report.max_gap_at_s} s",
             f"audio: {report.audio_duration_s:.3f} s "
             f"(audio - video {report.duration_diff_ms:+.0f} ms)",
             f"flashes {len(report.flashes_s)}, clicks {len(report.clicks_s)}, "
             f"paired {len(report.events)}",
             f"{'event':>5} {'video s':>9} {'audio s':>9} {'offset ms':>10}"]
    for index, event in enumerate(report.events):
        lines.append(f"{index:>5} {event['video_s']:>9.3f} {event['audio_s']:>9.3f} "
                     f"{event['offset_ms']:>10.1f}")
    lines.append("PASS" if not report.failures else "FAIL: " + "; ".join(report.failures))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m terminals.av_sync", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="FILE_OR_URL")
    parser.add_argument("--seconds", type=float, default=None,
                        help="read at most this much media (a live stream: required)")
    parser.add_argument("--gaps-after", type=float, default=0.0, metavar="S",
                        help="count frame gaps from S seconds past the first frame on "
                             "(default 0: the whole video; the whole video's largest gap is "
                             "reported anyway)")
    parser.add_argument("--json", default=None, metavar="OUT",
                        help="write the report as JSON here ('-': standard output)")
    args = parser.parse_args(argv)
    if args.seconds is not None and not args.seconds > 0:
        parser.error("--seconds must be positive")
    if not args.gaps_after >= 0:
        parser.error("--gaps-after must not be negative")
    try:
        report = measure(args.source, args.seconds, args.gaps_after)
    except (OSError, ValueError, av.FFmpegError) as error:
        print(f"{args.source}: cannot be read: {error}", file=sys.stderr)
        return 2
    if not report.events:
        report.failures.append("no flash paired with a click")
    if args.json == "-":
        print(json.dumps(report.document(), indent=1))
    else:
        print(table(report))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as out:
                json.dump(report.document(), out, indent=1)
    if not report.events:
        return 2
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
