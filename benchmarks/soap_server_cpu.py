"""SOAP server CPU per request: the KeepAlive load of benchmarks/soap_throughput.py, and the
server process's own CPU time (utime + stime, /proc/<pid>/stat) per request answered.

Requests/s swings with whatever else shares the cores; the server's CPU time per request
much less, so it compares two versions on a busy machine (docs/benchmarks.md, "Metrics").

    python -m benchmarks.soap_server_cpu [--clients 16] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from benchmarks import soap_throughput as load


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(clients_count: int, seconds: float) -> dict[str, float]:
    port = load.free_port()
    base_url = f"http://127.0.0.1:{port}/esdk/services"
    with tempfile.TemporaryDirectory() as data_dir:
        server = load.start_server(Path(data_dir), port)
        try:
            await load.wait_until_up(base_url)
            clients = [load.Client(base_url) for _ in range(clients_count)]
            await asyncio.gather(*(c.login(*load.ACCOUNT) for c in clients))
            await load.run_load(clients, "tpCommon", "KeepAlive", "", 1.0)  # warm-up
            before = cpu_seconds(server.pid)
            result = await load.run_load(clients, "tpCommon", "KeepAlive", "", seconds)
            used = cpu_seconds(server.pid) - before
            await asyncio.gather(*(c.close() for c in clients))
        finally:
            server.terminate()
            server.wait(timeout=10)
    requests = max(1, round(result.requests_per_s * seconds))
    return {"requests_per_s": result.requests_per_s, "p50_ms": result.p50_ms,
            "errors": result.errors, "server_cpu_s": round(used, 2),
            "server_cpu_us_per_request": round(1e6 * used / requests, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)  # [sessions] max_per_account
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.clients, args.seconds))
    print(json.dumps(figures))
    return 0 if figures["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
