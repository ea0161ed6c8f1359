"""`mcu-sim serve` as `make run` starts it: by default 4 simulated terminals register in the
same process and an integrator sees them as sites (querySitesEx); `--no-terminals` starts none.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.child_process import dies_with_parent
from tests.conftest import DEMO, soap_clients

PROJECT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"mcu-sim serving on (http://127\.0\.0\.1:\d+)")
REGISTERED = re.compile(r"simulated terminal (\d+) .* registered")
DEFAULT_TERMINALS = ["010100", "010101", "010102", "010103"]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator:
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> tuple[subprocess.Popen[str], str]:
        process = subprocess.Popen(
            dies_with_parent([sys.executable, "-m", "app.cli", "serve", "--sip-port", "0",
                              "--port", "0", "--data-dir", str(tmp_path / "data"), *flags]),
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        processes.append(process)
        assert process.stdout is not None
        for line in process.stdout:
            found = SERVING.search(line)
            if found:
                return process, found.group(1)
        raise AssertionError(f"serve exited with {process.wait()} before serving")

    yield start
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def site_uris(base_url: str) -> list[str]:
    clients = soap_clients(base_url)
    assert clients.login(*DEMO) == 0
    answer = clients.conf_mgr.querySitesEx()
    assert answer.resultCode == 0
    return sorted(site.uri for site in answer.siteInfos or [])


def test_serve_registers_four_simulated_terminals_by_default(serve):
    process, base_url = serve()
    registered: list[str] = []
    assert process.stdout is not None
    while len(registered) < len(DEFAULT_TERMINALS):
        line = process.stdout.readline()
        assert line, "serve stopped before its terminals registered"
        found = REGISTERED.search(line)
        if found:
            registered.append(found.group(1))
    assert sorted(registered) == DEFAULT_TERMINALS
    assert site_uris(base_url) == DEFAULT_TERMINALS


def test_serve_without_terminals_has_no_sites(serve):
    _, base_url = serve("--no-terminals")
    assert site_uris(base_url) == []


def test_serve_prints_the_consoles_url_with_the_demo_account(serve):
    process, base_url = serve("--no-terminals")
    assert process.stdout is not None
    line = ""
    while "console:" not in line:
        line = process.stdout.readline()
        assert line, "serve stopped before printing the console's URL"
    assert f"console: {base_url}/ (log in as demo / Demo@123)" in line
    answer = requests.get(f"{base_url}/", allow_redirects=False, timeout=10)
    assert answer.status_code == 303 and answer.headers["Location"] == "/login"
    assert requests.get(f"{base_url}/login", timeout=10).status_code == 200


def test_serve_with_its_sip_port_taken_says_so_and_exits_2(tmp_path: Path) -> None:
    # another program (a softphone, say) holds the SIP port: a clear message, no traceback
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve", "--sip-port", str(port), "--port", "0",
             "--no-terminals", "--data-dir", str(tmp_path / "data")],
            cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"cannot listen for SIP on 127.0.0.1:{port}" in done.stderr
    assert "--sip-port" in done.stderr
