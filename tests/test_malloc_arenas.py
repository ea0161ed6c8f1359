"""A dedicated MCU process (`mcu-sim serve --no-terminals`) holds its C heap to
MALLOC_ARENAS glibc arenas (mcu/media/heap_trim.py limit_malloc_arenas, set by
app/serve_command.run before the server starts): threads that come and go with the calls
no longer each grow a heap of their own whose free memory stays resident (the soak's RSS
growth, docs/benchmarks.md "Soak: the two targets"). A `serve` with simulated terminals in
its process keeps glibc's default. Counted from glibc's own report (malloc_info: one <heap>
per arena) in a fresh process that runs `serve`'s command with its server replaced by
eight threads allocating at the same time, as the decoder, encoder and media threads of
calls do; glibc's default would give them up to eight new arenas."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcu.media.heap_trim import MALLOC_ARENAS
from rtc.malloc_trim import glibc_malloc_trim

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import ctypes, sys, tempfile, threading
    from pathlib import Path
    from app import serve_command
    from app.cli import build_parser

    def arenas() -> int:
        libc = ctypes.CDLL(None)
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        path = Path(tempfile.mkdtemp()) / "malloc_info.xml"
        stream = libc.fopen(str(path).encode(), b"w")
        libc.malloc_info(0, stream)
        libc.fclose(stream)
        return path.read_text().count("<heap nr=")

    def allocate(barrier: threading.Barrier) -> None:
        barrier.wait()  # all at once: each would need a heap of its own
        kept = [bytearray(2048) for _ in range(20000)]
        barrier.wait()
        del kept

    async def threads_instead_of_the_server(settings, terminal_count=0, redis_url=None) -> None:
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=allocate, args=(barrier,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(arenas())

    serve_command._serve = threads_instead_of_the_server
    args = build_parser("serve").parse_args(["serve", "--sip-port", "0", "--port", "0", "--data-dir", tempfile.mkdtemp(),
                                      *sys.argv[1:]])
    sys.exit(serve_command.run(args))
""")


def arenas_after_eight_threads(environment: dict[str, str], *serve_args: str) -> int:
    completed = subprocess.run([sys.executable, "-c", CHILD, *serve_args], cwd=ROOT,
                               env=environment, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return int(completed.stdout.split()[-1])


@pytest.mark.skipif(glibc_malloc_trim() is None, reason="glibc's malloc only")
def test_a_dedicated_mcu_process_holds_its_c_heap_to_two_arenas():
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas_after_eight_threads(environment, "--no-terminals") <= MALLOC_ARENAS
    # the operator's MALLOC_ARENA_MAX stands (and shows the count is not always 2)
    assert arenas_after_eight_threads({**environment, "MALLOC_ARENA_MAX": "6"},
                                      "--no-terminals") > MALLOC_ARENAS


@pytest.mark.skipif(glibc_malloc_trim() is None, reason="glibc's malloc only")
def test_serve_with_simulated_terminals_keeps_glibcs_default():
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas_after_eight_threads(environment, "--terminals", "2") > MALLOC_ARENAS
