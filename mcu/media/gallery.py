"""`mcu-sim layouts`: print the 50 continuous-presence modes, or render them for a look.

    mcu-sim layouts                      a table: value, name, pane count
    mcu-sim layouts --json               [{"value": 11, "name": "CP_4_1", "panes": [[x, y, w, h], ...]}, ...]
    mcu-sim layouts --out DIR [--size 1920x1080] [--reference-dir DIR]
        one PNG per mode, drawn by the real compositor from sample sources
        with the pane numbers on top, and contact-sheet.png putting each
        rendered mode beside its reference icon (tpNN.png).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np

from mcu.layouts import LAYOUT_MODES, LayoutMode, pixel_rects
from mcu.media.compositor import Compositor, CompositorStyle
from mcu.reference import LAYOUT_ICONS
from rtc.colour import bgr_picture

DEFAULT_REFERENCE_DIR = LAYOUT_ICONS
SAMPLE_SOURCE_SIZE = (1280, 720)

# Contact sheet geometry: a rendered thumbnail and the icon side by side per mode.
THUMB_W, THUMB_H = 320, 180
ICON_SIZE = 150
COLUMNS = 5
CAPTION_H = 34
MARGIN = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print every mode with its panes as fractions, in pane order")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="render one PNG per mode and a contact sheet into DIR")
    parser.add_argument("--size", type=parse_size, default=(1920, 1080), metavar="WxH",
                        help="output size of the rendered modes (default 1920x1080)")
    parser.add_argument("--reference-dir", type=Path, default=DEFAULT_REFERENCE_DIR, metavar="DIR",
                        help=f"reference icons tpNN.png (default {DEFAULT_REFERENCE_DIR})")


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1920x1080, got {text!r}") from None
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError(f"size must be positive and even, got {text!r}")
    return width, height


def run(args: argparse.Namespace) -> int:
    if args.json:
        json.dump([mode.to_json() for mode in LAYOUT_MODES], sys.stdout)
        sys.stdout.write("\n")
    if args.out is not None:
        written = render_gallery(args.out, args.size, args.reference_dir)
        print(f"wrote {len(written)} files to {args.out}", file=sys.stderr if args.json else sys.stdout)
    if not args.json and args.out is None:
        for mode in LAYOUT_MODES:
            print(f"{mode.value:2d}  {mode.name:8s}  {mode.pane_count:2d} pane(s)")
    return 0


# --- rendering ----------------------------------------------------------------------


def sample_source(index: int) -> av.VideoFrame:
    """Sample camera picture: blue for the main pane (as in the icons), warm greys for the
    rest, with a diagonal ramp and a frame so scaling and letterboxing are visible."""
    width, height = SAMPLE_SOURCE_SIZE
    ys, xs = np.mgrid[0:height, 0:width]
    ramp = ((xs + ys) / (width + height))[..., None]
    base = np.array([215, 140, 20] if index == 0 else [200 - 9 * (index % 8)] * 3, float)
    bgr = (base * (0.65 + 0.35 * ramp)).clip(0, 255).astype(np.uint8)
    cv2.rectangle(bgr, (6, 6), (width - 7, height - 7), (250, 250, 250), 6)
    cv2.circle(bgr, (width // 2, height // 2), height // 4, (60, 60, 60), 8)
    return bgr_picture(bgr)  # in the colour convention, as a terminal's camera


def render_mode(mode: LayoutMode, size: tuple[int, int], sources: dict[str, av.VideoFrame]) -> np.ndarray:
    """The mode as the compositor draws it, as a BGR image with pane numbers on top."""
    width, height = size
    style = CompositorStyle(border_px=2, highlight_speaking=False)
    compositor = Compositor(width, height, mode, style=style)  # CP_None shows the first site
    picture = compositor.compose(sources).to_ndarray(format="bgr24")
    for index, rect in enumerate(pixel_rects(mode, width, height)):
        text = f"{index} main" if index == 0 and mode.pane_count > 1 else str(index)
        _label_pane(picture, text, rect.x, rect.y, rect.w, rect.h)
    return picture


def _label_pane(picture: np.ndarray, text: str, x: int, y: int, w: int, h: int) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, min(3.0, h / 160))
    thickness = max(1, int(scale * 2.5))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = (x + (w - tw) // 2, y + (h + th) // 2)
    cv2.putText(picture, text, origin, font, scale, (0, 0, 0), thickness + 3, cv2.LINE_AA)
    cv2.putText(picture, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def reference_icon(reference_dir: Path, mode: LayoutMode) -> np.ndarray | None:
    path = reference_dir / f"tp{mode.value:02d}.png"
    icon = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    return icon


def render_gallery(out_dir: Path, size: tuple[int, int], reference_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = {f"site{i}": sample_source(i) for i in range(max(m.pane_count for m in LAYOUT_MODES))}
    written = []
    thumbs = []
    for mode in LAYOUT_MODES:
        picture = render_mode(mode, size, sources)
        path = out_dir / f"{mode.value:02d}_{mode.name}.png"
        _write_png(path, picture)
        written.append(path)
        thumbs.append(cv2.resize(picture, (THUMB_W, THUMB_H), interpolation=cv2.INTER_AREA))
    sheet = contact_sheet(thumbs, reference_dir)
    sheet_path = out_dir / "contact-sheet.png"
    _write_png(sheet_path, sheet)
    written.append(sheet_path)
    return written


def contact_sheet(thumbs: list[np.ndarray], reference_dir: Path) -> np.ndarray:
    """Every mode as rendered beside its reference icon (scaled up, pixels kept sharp)."""
    cell_w = THUMB_W + MARGIN + ICON_SIZE + 2 * MARGIN
    cell_h = CAPTION_H + max(THUMB_H, ICON_SIZE) + MARGIN
    rows = -(-len(LAYOUT_MODES) // COLUMNS)
    sheet = np.full((rows * cell_h + MARGIN, COLUMNS * cell_w + MARGIN, 3), 255, np.uint8)
    for mode, thumb in zip(LAYOUT_MODES, thumbs, strict=True):
        x0 = MARGIN + (mode.value % COLUMNS) * cell_w
        y0 = MARGIN + (mode.value // COLUMNS) * cell_h
        cv2.putText(sheet, f"{mode.value} {mode.name}", (x0, y0 + 22), cv2.FONT_HERSHEY_SIMPLEX,
                    0.7, (0, 0, 0), 2, cv2.LINE_AA)
        top = y0 + CAPTION_H
        sheet[top : top + THUMB_H, x0 : x0 + THUMB_W] = thumb
        icon_x = x0 + THUMB_W + MARGIN
        icon = reference_icon(reference_dir, mode)
        if icon is None:  # CP_None has no icon; say so rather than leave a hole
            cv2.rectangle(sheet, (icon_x, top), (icon_x + ICON_SIZE - 1, top + ICON_SIZE - 1),
                          (180, 180, 180), 2)
            cv2.putText(sheet, "no icon", (icon_x + 30, top + ICON_SIZE // 2),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, (120, 120, 120), 1, cv2.LINE_AA)
        else:
            sheet[top : top + ICON_SIZE, icon_x : icon_x + ICON_SIZE] = cv2.resize(
                icon, (ICON_SIZE, ICON_SIZE), interpolation=cv2.INTER_NEAREST
            )
    return sheet


def _write_png(path: Path, picture: np.ndarray) -> None:
    if not cv2.imwrite(str(path), picture):
        raise OSError(f"could not write {path}")
