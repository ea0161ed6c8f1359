"""How fast a busy event loop reads one UDP socket, and how old a datagram is when it is
read: asyncio's own transport (one datagram per readiness event) against
rtc/datagram_drain.py (up to 64), side by side in one run.

A sender process sends `--rate` RTP-sized datagrams a second to one socket, and every
100 ms a probe carrying its send time (standing for a STUN consent check or answer, which
queues behind the media like any datagram). The loop is kept busy as a media process's
is: a task spins `--busy-ms` of CPU between two yields, so each loop pass, and so each
selector poll, costs that long. Reported per variant: datagrams read per second, the
probes' age when read (p50 / max), the peak of the kernel queue (`SIOCINQ` is not portable:
/proc/net/udp's rx_queue), and the datagrams the kernel dropped.

    python -m benchmarks.datagram_drain [--rate 4000] [--busy-ms 2] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import struct
import time
from dataclasses import asdict, dataclass
from typing import Any

from rtc import datagram_drain

PAYLOAD = 1200
PROBE = b"PROBE"


@dataclass
class Result:
    variant: str
    sent: int
    read: int
    read_per_s: float
    probe_age_ms_p50: float | None
    probe_age_ms_max: float | None
    probes_read: int
    probes_sent: int
    rx_queue_peak_bytes: int
    kernel_drops: int


def _udp_row(port: int) -> tuple[int, int]:
    """(rx_queue bytes, drops) of the 127.0.0.1 socket bound to `port`."""
    with open("/proc/net/udp", encoding="ascii") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16), int(fields[12])
    return 0, 0


class _Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.read = 0
        self.ages: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.read += 1
        if data.startswith(PROBE):
            (sent_at,) = struct.unpack_from("!d", data, len(PROBE))
            self.ages.append((time.monotonic() - sent_at) * 1000)


def _send(port: int, rate: int, seconds: float, counts: Any) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media = bytes(PAYLOAD)
    start = time.monotonic()
    next_probe = start
    sent = probes = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate)
        while sent < due:
            sock.sendto(media, ("127.0.0.1", port))
            sent += 1
        if now >= next_probe:
            sock.sendto(PROBE + struct.pack("!d", time.monotonic()) + bytes(100),
                        ("127.0.0.1", port))
            probes += 1
            next_probe += 0.1
        time.sleep(0.001)
    sock.close()
    counts[0], counts[1] = sent + probes, probes


async def _busy(busy_s: float) -> None:
    while True:
        end = time.perf_counter() + busy_s
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0)


async def run_variant(variant: str, rate: int, busy_ms: float, seconds: float) -> Result:
    loop = asyncio.get_running_loop()
    transport, counter = await loop.create_datagram_endpoint(
        _Counter, local_addr=("127.0.0.1", 0))
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    port = sock.getsockname()[1]
    if variant == "drained":
        assert datagram_drain.drain_when_readable(transport)
    _, drops_before = _udp_row(port)
    busy = loop.create_task(_busy(busy_ms / 1000))
    counts = multiprocessing.Array("q", 2)
    sender = multiprocessing.Process(target=_send, args=(port, rate, seconds, counts))
    started = time.monotonic()
    sender.start()
    peak = 0
    while sender.is_alive():
        peak = max(peak, _udp_row(port)[0])
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    read_in_window = counter.read
    _, drops_after = _udp_row(port)
    busy.cancel()
    transport.close()
    ages = sorted(counter.ages)
    return Result(
        variant=variant, sent=counts[0], read=read_in_window,
        read_per_s=round(read_in_window / elapsed, 1),
        probe_age_ms_p50=round(statistics.median(ages), 1) if ages else None,
        probe_age_ms_max=round(ages[-1], 1) if ages else None,
        probes_read=len(ages), probes_sent=counts[1],
        rx_queue_peak_bytes=peak, kernel_drops=drops_after - drops_before)


async def main(rate: int, busy_ms: float, seconds: float) -> list[Result]:
    return [await run_variant(variant, rate, busy_ms, seconds)
            for variant in ("asyncio", "drained", "asyncio", "drained")]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=4000, help="datagrams a second")
    parser.add_argument("--busy-ms", type=float, default=2.0,
                        help="CPU each loop pass spends besides reading")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for result in asyncio.run(main(args.rate, args.busy_ms, args.seconds)):
        print(json.dumps(asdict(result)))
