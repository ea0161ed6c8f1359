"""benchmarks/node_scaling.py, briefly: a real redis-server, two `mcu-sim node` processes,
`mcu-sim serve --redis` and two 4-site conferences whose terminals run in processes of their
own; its report holds every figure, the second conference went to the other node, and the
media came from the nodes (frames received, the probes read the markers). A smoke test of
the machinery with tiny windows, no timing target: the figures are taken by hand
(docs/benchmarks.md, "Node scaling")."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.redis_server import REDIS_SERVER

STEP_FIELDS = {"nodes", "conferences", "window_s", "load_average_after", "nodes_cpu_percent",
               "nodes_cpu_pct_per_conference", "gateway_cpu_percent", "redis_cpu_percent",
               "terminals_cpu_percent", "others_cpu_percent", "redis_commands_per_s",
               "redis_commands_per_s_per_conference", "stream_entries_per_s",
               "stream_entries_per_s_per_conference", "received_fps_min",
               "probe_decoded_fps_min", "latency_ms_p50", "latency_ms_p95",
               "latency_readings", "nodes_lost", "held", "verdict",
               "conferences_per_node", "ladder_settled_s", "audio_received_fps_min",
               "audio_gap_ms_max"}


def bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.node_scaling", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args", [["--nodes", "0"], ["--nodes", "1,x"],
                                  ["--max-conferences", "17"], ["--format", "4k"],
                                  ["--window", "0"]])
def test_bad_arguments_end_with_status_2_and_the_reason(args: list[str]) -> None:
    completed = bench(*args)
    assert completed.returncode == 2
    assert "error:" in completed.stderr and "Traceback" not in completed.stderr


@pytest.mark.skipif(shutil.which(REDIS_SERVER) is None,
                    reason="redis-server is not installed and `make redis` could not install it")
def test_two_nodes_two_conferences_report_every_figure(tmp_path: Path) -> None:
    out, markdown = tmp_path / "nodes.json", tmp_path / "nodes.md"
    completed = bench("--nodes", "2", "--max-conferences", "2", "--all-steps", "--window", "3",
                      "--warmup", "1", "--json", str(out), "--markdown", str(markdown),
                      timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(out.read_text())
    steps = report["steps"]
    assert [(s["nodes"], s["conferences"]) for s in steps] == [(2, 1), (2, 2)]
    for step in steps:
        assert set(step) == STEP_FIELDS
        assert step["nodes_cpu_percent"] > 0 and step["gateway_cpu_percent"] >= 0
        # the media came from the nodes: every receiver got frames, the probes decoded and
        # read their conference's markers (latency readings come from the markers)
        assert step["received_fps_min"] > 0 and step["probe_decoded_fps_min"] > 0
        assert step["latency_readings"] > 0
        # the nodes' mixes reached every receiver, none waiting the whole window for audio
        assert step["audio_received_fps_min"] > 0
        assert 0 < step["audio_gap_ms_max"] < 1000 * step["window_s"]
        # measured once every terminal sent what the send ladder asked (its 320x180 pane)
        assert step["ladder_settled_s"] is not None
        # the nodes report the conferences' levels over the event stream while they run
        assert step["stream_entries_per_s_per_conference"] > 0
        assert step["redis_commands_per_s"] >= step["stream_entries_per_s"]
    # placed by load: the second conference went to the other node
    assert steps[1]["conferences_per_node"] == {"1": 1, "2": 1}
    summary = report["summary"]
    assert summary["format"] == "360p" and set(summary["sustained_by_nodes"]) == {"2"}
    assert summary["stream_entries_per_s_per_conference"] > 0
    assert "| 2 | 2 |" in markdown.read_text()
