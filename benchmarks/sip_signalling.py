"""The SIP layer's cost, in one process on loopback (`python -m benchmarks.sip_signalling`):

- anchor: OPTIONS round trips a second (one non-INVITE transaction each way: parse, match,
  answer), the cheapest exchange, measured in the same run so the rest reads against it;
- calls: complete calls a second (INVITE, 100, 180, 200, ACK, BYE, 200) over UDP and TCP;
- parse: messages parsed a second by the codec alone (RFC 4475's short tortuous INVITE and a
  plain INVITE of a softphone), no I/O.

Both user agents share the one event loop and core, so a round trip pays both sides."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sip.message import parse_datagram
from sip.transaction import Timers
from sip.transport import TransportSettings
from sip.useragent import SipUserAgent, UaSettings

TORTURE = Path(__file__).parent.parent / "tests" / "data" / "sip" / "valid-3.1.1.1-wsinv.sip"
PLAIN = (b"INVITE sip:8001@127.0.0.1 SIP/2.0\r\n"
         b"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776asdhds;rport\r\n"
         b"Max-Forwards: 70\r\nTo: <sip:8001@127.0.0.1>\r\n"
         b"From: \"Room 3\" <sip:room3@127.0.0.1>;tag=1928301774\r\n"
         b"Call-ID: a84b4c76e66710@127.0.0.1\r\nCSeq: 314159 INVITE\r\n"
         b"Contact: <sip:room3@127.0.0.1:5062>\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
         b"Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n")


def ua(user: str) -> SipUserAgent:
    async def answer(_request: object) -> bytes:
        return b"v=0\r\n"

    return SipUserAgent(UaSettings(user=user, transports=TransportSettings(
        udp_port=0, tcp_port=0), timers=Timers()), on_invite=answer)


async def rate(seconds: float, once: Callable[[], Awaitable[None]]) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        await once()
        count += 1
    return count / (time.perf_counter() - started)


async def measure(seconds: float) -> dict[str, float]:
    a, b = ua("a"), ua("b")
    results: dict[str, float] = {}
    async with a, b:
        async def options() -> None:
            await a.options(b.contact("UDP"))

        # the anchor before and after the calls: the machine is shared, load drifts
        results["anchor: OPTIONS round trips/s (UDP), before"] = await rate(seconds, options)
        for transport in ("UDP", "TCP"):
            async def call(transport: str = transport) -> None:
                dialog = await a.invite(b.contact(transport), b"v=0\r\n")
                await dialog.bye()

            results[f"calls/s ({transport})"] = await rate(seconds, call)
        results["anchor: OPTIONS round trips/s (UDP), after"] = await rate(seconds, options)
    for name, data in (("wsinv", TORTURE.read_bytes()), ("plain INVITE", PLAIN)):
        started, count = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            parse_datagram(data)
            count += 1
        results[f"parse/s ({name})"] = count / (time.perf_counter() - started)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    cpu = time.process_time()
    results = asyncio.run(measure(args.seconds))
    results["process CPU s"] = time.process_time() - cpu
    for name, value in results.items():
        print(f"{name:42s} {value:10.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
