"""benchmarks/media_screens.py, briefly: the multi-screen scenario runs its anchor (four
single-screen sites) and the same conference with a three-screen room on real MCU and
terminal processes; the room's screens add exactly one encoder (its screen 2, the speaker
full screen) and the encoders equal the distinct outputs. A smoke test of the machinery with
tiny windows, no timing target: the figures are taken by hand (docs/benchmarks.md,
"Multi-screen")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.media_screens import ANCHOR, ROOM, scenario_name


def test_the_screens_scenario_reports_cpu_and_encoders_beside_its_anchor(tmp_path: Path):
    out = tmp_path / "media.json"
    markdown = tmp_path / "media.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.media_load", "--screens-only", "--window", "2",
         "--warmup", "0.5", "--json", str(out), "--markdown", str(markdown)],
        capture_output=True, text=True, timeout=420,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "scenarios" not in report and "content" not in report  # nothing else ran
    runs = {run["name"]: run for run in report["screens"]["scenarios"]}
    assert list(runs) == [scenario_name(ANCHOR), scenario_name(ROOM)]
    anchor, room = runs[scenario_name(ANCHOR)], runs[scenario_name(ROOM)]

    def pictures(run: dict) -> set[str]:
        return {g["picture"] for c in run["per_conference"] for g in c["groups"]}

    assert pictures(anchor) == {"cp:"}  # one CP picture for the four
    assert anchor["encoders"] == anchor["expected_encoders"] == 1
    # the room: HD1 and HD3 in the CP group, HD2 a site full screen: one more encoder
    room_pictures = pictures(room)
    assert "cp:" in room_pictures and len(room_pictures) == 2
    assert next(iter(room_pictures - {"cp:"})).startswith("site:")
    assert room["encoders"] == room["expected_encoders"] == 2
    assert room["mcu_cpu_percent"] > 0 and anchor["mcu_cpu_percent"] > 0
    for run in (anchor, room):  # the mix each site heard was measured at the receivers
        conferences = run["per_conference"]
        # the mix reached every receiver: frames counted, and no receiver waited the whole
        # window for audio (its longest wait is the window when nothing came)
        assert all(c["audio_received_fps_min"] > 0
                   and 0 < c["audio_gap_ms_max"] < 1000 * run["window_s"]
                   for c in conferences)
        assert run["audio_received_fps_min"] == min(
            c["audio_received_fps_min"] for c in conferences)
        assert run["audio_gap_ms_max"] == max(c["audio_gap_ms_max"] for c in conferences)
    summary = report["screens"]["summary"]
    assert summary["encoders_equal_distinct_outputs"] is True
    assert summary["room_extra_mcu_cpu_percent"] == round(
        room["mcu_cpu_percent"] - anchor["mcu_cpu_percent"], 1)
    assert scenario_name(ROOM) in markdown.read_text()
