"""`mcu-sim terminals --sip` run in its own process for a test (tests/test_sip_room_command.py):
the room registered with the test server's registrar, its standard output read line by line
until a line holds the text awaited; on the way out the process is terminated and must have
ended cleanly (exit status 0)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from app.child_process import dies_with_parent

LineWith = Callable[..., Awaitable[str]]


@contextlib.asynccontextmanager
async def sip_rooms_process(gateway_server, *options: str) -> AsyncIterator[LineWith]:
    """`mcu-sim terminals --sip <options>` registering with `gateway_server`'s registrar and
    printing its statistics every 0.5 s; yields `line_with(text, timeout=40.0)`, which reads
    lines until one holds `text` and fails if the process ends or the time runs out."""
    command = [
        sys.executable, "-m", "app.cli", "terminals", "--sip", *options,
        "--register", f"sip:127.0.0.1:{gateway_server.sip.port}", "--stats-interval", "0.5",
    ]
    process = subprocess.Popen(dies_with_parent(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=Path(__file__).resolve().parents[1],
                               env=os.environ.copy())
    lines: list[str] = []

    async def line_with(text: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = await asyncio.to_thread(process.stdout.readline)  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"the process ended: {process.stderr.read()}")  # type: ignore[union-attr]
            lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in {lines[-5:]}")

    try:
        yield line_with
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert process.returncode == 0
