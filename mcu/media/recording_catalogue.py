"""The recordings on disk (<data dir>/recordings/<confId>/<start time>.mp4), as listed by
`GET /recordings` and `mcu-sim recordings`: each file's duration, size and tracks, read
with PyAV's demuxer (a file still being written, or cut by a kill, is read up to its last
fragment). Files are named by mcu/media/recorder.py; nothing else under the directory is
listed.

Who sees what (issue 11's rule, mcu/ownership.py): an account sees the recordings of the
conferences it may read (`visible`: ownership.visible_ids, deleted conferences included,
since recordings outlive them); an administrator (None) sees all. A recording of a
conference the account may not read is, for it, no recording (not listed, not found).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from mcu.media.recorder import conference_dir_name

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


def readable_dirs(visible: frozenset[str] | None) -> frozenset[str] | None:
    """The recording directories of the conferences in `visible` (None: all)."""
    if visible is None:
        return None
    return frozenset(conference_dir_name(conf_id) for conf_id in visible)


def recording_file(root: Path, conf_id: str, name: str,
                   visible: frozenset[str] | None = None) -> Path | None:
    """The path of one recording, or None when the names are not a recording's (no path
    outside `root` can be named) or it is of a conference not in `visible` (None: any)."""
    if not _CONF_DIR.match(conf_id) or conf_id in (".", "..") or not _FILE.match(name):
        return None
    dirs = readable_dirs(visible)
    if dirs is not None and conf_id not in dirs:
        return None
    path = root / conf_id / name
    return path if path.is_file() else None


def list_recordings(root: Path, visible: frozenset[str] | None = None) -> list[RecordingFile]:
    """Every recording under root of the conferences in `visible` (None: all), by
    conference then start time."""
    if not root.is_dir():
        return []
    dirs = readable_dirs(visible)
    found = []
    for conf_dir in sorted(root.iterdir()):
        if not conf_dir.is_dir() or not _CONF_DIR.match(conf_dir.name):
            continue
        if dirs is not None and conf_dir.name not in dirs:
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
