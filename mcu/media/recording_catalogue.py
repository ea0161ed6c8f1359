"""The recordings on disk (<data dir>/recordings/<confId>/<start time>.mp4), as listed by
`GET /recordings` and `mcu-sim recordings`: each file's duration, size and tracks, read
with PyAV's demuxer (a file still being written, or cut by a kill, is read up to its last
fragment). Files are named by mcu/media/recorder.py; nothing else under the directory is
listed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

_CONF_DIR = re.compile(r"^[A-Za-z0-9._-]+$")
_FILE = re.compile(r"^\d{8}T\d{6}\.\d{3}Z\.mp4$")


@dataclass(frozen=True)
class RecordingFile:
    conf_id: str
    name: str
    size: int  # bytes
    duration_s: float | None  # None: no readable fragment yet
    tracks: list[str]  # codec of each stream in order (h264 main, h264 content, aac)
    sidecar: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def recording_file(root: Path, conf_id: str, name: str) -> Path | None:
    """The path of one recording, or None when the names are not a recording's (no path
    outside `root` can be named)."""
    if not _CONF_DIR.match(conf_id) or conf_id in (".", "..") or not _FILE.match(name):
        return None
    path = root / conf_id / name
    return path if path.is_file() else None


def list_recordings(root: Path) -> list[RecordingFile]:
    """Every recording under root, by conference then start time."""
    if not root.is_dir():
        return []
    found = []
    for conf_dir in sorted(root.iterdir()):
        if not conf_dir.is_dir() or not _CONF_DIR.match(conf_dir.name):
            continue
        for path in sorted(conf_dir.iterdir()):
            if _FILE.match(path.name) and path.is_file():
                found.append(describe(path))
    return found


def describe(path: Path) -> RecordingFile:
    duration, tracks = _probe(path)
    sidecar_path = path.with_suffix(".json")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        sidecar = None
    return RecordingFile(path.parent.name, path.name, path.stat().st_size, duration, tracks,
                         sidecar)


def _probe(path: Path) -> tuple[float | None, list[str]]:
    """(the longest stream's duration from its packets' timestamps, the codecs)."""
    try:
        with av.open(str(path)) as container:
            tracks = [stream.codec_context.name for stream in container.streams]
            end = 0.0
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    length = packet.duration or 0
                    end = max(end, float((packet.pts + length) * packet.time_base))
    except (av.error.FFmpegError, OSError):
        return None, []
    return (round(end, 3) if end else None), tracks
