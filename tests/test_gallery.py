"""`mcu-sim layouts`: the JSON listing and the rendered gallery, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from app import cli
from mcu.layouts import LAYOUT_MODES
from mcu.media.gallery import DEFAULT_REFERENCE_DIR, parse_size

REPO = Path(__file__).resolve().parents[1]


def test_layouts_json_through_the_console_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "layouts", "--json"],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=120,
    )
    modes = json.loads(result.stdout)
    assert [m["value"] for m in modes] == list(range(50))
    assert modes[11] == {
        "value": 11,
        "name": "CP_4_1",
        "panes": [[0.0, 0.0, 0.5, 0.5], [0.5, 0.0, 0.5, 0.5], [0.0, 0.5, 0.5, 0.5],
                  [0.5, 0.5, 0.5, 0.5]],
    }
    for listed, mode in zip(modes, LAYOUT_MODES, strict=True):
        assert listed["name"] == mode.name
        assert len(listed["panes"]) == mode.pane_count
        assert listed["panes"] == [p.as_floats() for p in mode.panes]


def test_layouts_without_options_prints_a_table(capsys):
    assert cli.main(["layouts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 50
    assert lines[47].split()[:2] == ["47", "CP_16_1"]


def test_size_option_is_validated():
    assert parse_size("704x576") == (704, 576)
    for bad in ("704", "703x576", "0x0", "axb"):
        with pytest.raises(Exception):  # noqa: B017 - argparse's ArgumentTypeError
            parse_size(bad)
    with pytest.raises(SystemExit):
        cli.main(["layouts", "--out", "/tmp/never", "--size", "701x576"])


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gallery")
    assert cli.main(["layouts", "--out", str(out), "--size", "352x288"]) == 0
    return out


def test_gallery_renders_one_png_per_mode_at_the_requested_size(gallery):
    for mode in LAYOUT_MODES:
        picture = cv2.imread(str(gallery / f"{mode.value:02d}_{mode.name}.png"))
        assert picture is not None, mode.name
        assert picture.shape == (288, 352, 3)


def test_gallery_pictures_show_the_main_pane_blue_where_the_table_puts_it(gallery):
    for mode in LAYOUT_MODES:
        picture = cv2.imread(str(gallery / f"{mode.value:02d}_{mode.name}.png")).astype(int)
        x, y, w, h = mode.panes[0].as_floats()
        # Sample just inside the main pane's top-left corner (past border and letterbox bar
        # would be black, so look for blue anywhere along the pane's horizontal midline).
        row = picture[int((y + h / 2) * 288), int(x * 352) + 4 : int((x + w) * 352) - 4]
        blue = (row[:, 0] > row[:, 2] + 60).mean()
        assert blue > 0.3, mode.name


def test_contact_sheet_holds_every_mode_and_its_reference_icon(gallery):
    sheet = cv2.imread(str(gallery / "contact-sheet.png"))
    assert sheet is not None
    assert sheet.shape[0] > 1000 and sheet.shape[1] > 1000
    if DEFAULT_REFERENCE_DIR.is_dir():
        # The icon of CP_24_1 (blue main pane, black grid) is scaled up into the sheet.
        icon = cv2.imread(str(DEFAULT_REFERENCE_DIR / "tp49.png"))
        big = cv2.resize(icon, (150, 150), interpolation=cv2.INTER_NEAREST)
        _, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(sheet, big, cv2.TM_SQDIFF))
        np.testing.assert_array_equal(sheet[y : y + 150, x : x + 150], big)


def test_reference_dir_is_an_option(tmp_path):
    empty = tmp_path / "no-icons"
    empty.mkdir()
    out = tmp_path / "out"
    assert cli.main(["layouts", "--out", str(out), "--size", "320x180",
                     "--reference-dir", str(empty)]) == 0
    assert len(list(out.glob("*.png"))) == 51
    sheet = cv2.imread(str(out / "contact-sheet.png"))
    assert np.count_nonzero(sheet != 255) > 0
