"""`mcu-sim recordings [--data-dir DIR]`: the recordings under DIR/recordings as JSON (one
object per file: conference, file name, size, duration, tracks, sidecar)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mcu.media.recording_catalogue import list_recordings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("./data"),
                        help="the server's data directory (default ./data)")


def run(args: argparse.Namespace) -> int:
    found = list_recordings(args.data_dir / "recordings")
    print(json.dumps({"recordings": [item.as_json() for item in found]}, indent=1))
    return 0
