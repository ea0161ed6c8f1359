"""The MCU process's C heap is held to MALLOC_ARENAS glibc arenas (mcu/media/heap_trim.py
limit_malloc_arenas, set by app/process.running_server at start-up): threads that come and
go with the calls no longer each grow a heap of their own whose free memory stays resident
(the soak's RSS growth, docs/benchmarks.md "Soak: the two targets"). Counted from the
outside of glibc's own report (malloc_info: one <heap> per arena) in a fresh process that
starts the real server and then runs eight threads that allocate at the same time, as the
decoder, encoder and media threads of calls do; glibc's default would give them up to
eight new arenas."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcu.media.heap_trim import MALLOC_ARENAS, glibc_malloc_trim

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent("""
    import asyncio, ctypes, os, sys, tempfile, threading
    from pathlib import Path
    from app.process import running_server
    from gateway.settings import load_settings

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

    async def main() -> None:
        settings = load_settings(port=0, data_dir=Path(tempfile.mkdtemp()))
        async with running_server(settings):
            barrier = threading.Barrier(8)
            threads = [threading.Thread(target=allocate, args=(barrier,)) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            print(arenas())

    asyncio.run(main())
""")


def arenas_after_eight_threads(environment: dict[str, str]) -> int:
    completed = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=environment,
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return int(completed.stdout.split()[-1])


@pytest.mark.skipif(glibc_malloc_trim() is None, reason="glibc's malloc only")
def test_the_mcu_process_holds_its_c_heap_to_two_arenas():
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert arenas_after_eight_threads(environment) <= MALLOC_ARENAS
    # the operator's MALLOC_ARENA_MAX stands (and shows the count is not always 2)
    assert arenas_after_eight_threads({**environment, "MALLOC_ARENA_MAX": "6"}) > MALLOC_ARENAS
