"""SOAP gateway throughput: requests/s and p50/p99 latency with concurrent clients.

Starts `mcu-sim serve` in its own process on 127.0.0.1 (temp data dir), books 50 conferences,
then runs the load from this process: N concurrent clients, each with its own authenticated
session, posting raw SOAP 1.1 envelopes (what an integrator's client sends) for a fixed time.
Measured for KeepAlive and for queryConferencesStatusEx over the 50 conferences.

    python -m benchmarks.soap_throughput [--clients 32] [--seconds 10] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from app.child_process import dies_with_parent

ACCOUNT = ("bench", "Bench@123")
NS = "http://smc.huawei.com/"


def envelope(operation: str, body: str = "") -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:smc="{NS}"><soapenv:Header/><soapenv:Body>'
        f"<smc:{operation}>{body}</smc:{operation}></soapenv:Body></soapenv:Envelope>"
    ).encode()


def password_proof(password: str, random_sequence: str) -> str:
    h1 = hashlib.sha256(password.encode()).hexdigest()
    r = base64.b64decode(random_sequence).hex()
    return base64.b64encode(hashlib.sha256((h1 + r).encode("ascii")).digest()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One integrator: its own HTTP connection and authenticated session."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            # idle connections closed after 5 s, before the server's 10 s keep-alive
            # (header_timeout_seconds) closes them: a request every 20 s (the soak's
            # KeepAlive) otherwise met a connection the server had just closed (reset)
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=5.0),
        )

    async def call(self, service: str, operation: str, body: str = "") -> str:
        async with self.http.post(
            f"{self.base}/{service}",
            data=envelope(operation, body),
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "SOAPAction": f'"{NS}{operation}"',
            },
        ) as response:
            text = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{operation}: HTTP {response.status}: {text[:200]}")
            return text

    async def login(self, user: str, password: str) -> None:
        answer = await self.call(
            "tpCommon",
            "LoginRequest",
            f"<userName>{user}</userName><clientType>API</clientType><version>2</version>",
        )
        sequence = re.search(r"<randomSequence>([^<]+)</randomSequence>", answer)
        if sequence is None:
            raise RuntimeError(f"LoginRequest: {answer[:300]}")
        proof = password_proof(password, sequence.group(1))
        answer = await self.call(
            "tpCommon", "Authenticate", f"<encryptPassword>{proof}</encryptPassword>"
        )
        if result_code(answer) != 0:
            raise RuntimeError(f"Authenticate: {answer[:300]}")

    async def close(self) -> None:
        await self.http.close()


def result_code(answer: str) -> int:
    found = re.search(r"<resultCode>(-?\d+)</resultCode>", answer)
    return int(found.group(1)) if found else -1


@dataclass
class LoadResult:
    operation: str
    clients: int
    seconds: float
    requests: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float


async def run_load(
    clients: list[Client], service: str, operation: str, body: str, seconds: float
) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def one_client(client: Client) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            answer = await client.call(service, operation, body)
            latencies.append(time.perf_counter() - start)
            if result_code(answer) != 0:
                errors += 1

    began = time.perf_counter()
    await asyncio.gather(*(one_client(c) for c in clients))
    elapsed = time.perf_counter() - began
    latencies.sort()

    def percentile(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]

    return LoadResult(
        operation=operation,
        clients=len(clients),
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        requests_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(0.50), 2),
        p99_ms=round(percentile(0.99), 2),
        max_ms=round(1000 * latencies[-1], 2),
    )


def start_server(data_dir: Path, port: int, sessions: int = 16) -> subprocess.Popen[bytes]:
    """`mcu-sim serve` with the benchmark's account, allowed `sessions` at once (the
    default [sessions] max_per_account is 16: one account's clients beyond that would be
    refused at login, 1344274480)."""
    config = data_dir / "bench.toml"
    config.write_text(f"[sessions]\nmax_per_account = {max(16, sessions)}\n")
    command = [
        sys.executable, "-m", "app.cli", "serve", "--config", str(config),
        "--port", str(port), "--data-dir", str(data_dir),
        "--account", f"{ACCOUNT[0]}:{ACCOUNT[1]}", "--no-terminals",
    ]
    return subprocess.Popen(dies_with_parent(command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def wait_until_up(base_url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{base_url}/tpCommon?wsdl") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up")
            await asyncio.sleep(0.2)


async def book_conferences(client: Client, count: int) -> list[str]:
    ids = []
    begin = datetime.now(UTC) + timedelta(days=1)
    for index in range(count):
        when = (begin + timedelta(hours=3 * index)).isoformat(timespec="milliseconds")
        site = (
            f"<sites><name>bench-{index}</name><uri>0109{index:04d}</uri><type>4</type>"
            "<from>0</from><dialingMode>0</dialingMode></sites>"
        )
        answer = await client.call(
            "tpProfessionalConfMgr",
            "scheduleConfEx",
            f"<scheduleConf><name>bench {index}</name><beginTime>{when}</beginTime>"
            "<duration>PT1H</duration><mediaEncryptType>0</mediaEncryptType>"
            f"<cpResouce>4</cpResouce><rate>1920k</rate><presentation>0</presentation>{site}"
            "</scheduleConf>",
        )
        found = re.search(r"<confId>([^<]+)</confId>", answer)
        if result_code(answer) != 0 or found is None:
            raise RuntimeError(f"scheduleConfEx: {answer[:300]}")
        ids.append(found.group(1))
    return ids


async def measure(clients_count: int, seconds: float) -> list[LoadResult]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/esdk/services"
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir), port, sessions=clients_count)
        try:
            await wait_until_up(base_url)
            clients = [Client(base_url) for _ in range(clients_count)]
            await asyncio.gather(*(c.login(*ACCOUNT) for c in clients))
            conf_ids = await book_conferences(clients[0], 50)
            query = "".join(f"<confIds>{conf_id}</confIds>" for conf_id in conf_ids)
            await run_load(clients, "tpCommon", "KeepAlive", "", 1.0)  # warm-up
            results = [
                await run_load(clients, "tpCommon", "KeepAlive", "", seconds),
                await run_load(
                    clients, "tpProfessionalConfMgr", "queryConferencesStatusEx", query, seconds
                ),
            ]
            await asyncio.gather(*(c.close() for c in clients))
            return results
        finally:
            server.terminate()
            server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.clients, args.seconds))
    print(f"{'operation':<28}{'clients':>8}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for r in results:
        print(
            f"{r.operation:<28}{r.clients:>8}{r.requests_per_s:>10}{r.p50_ms:>9}"
            f"{r.p99_ms:>9}{r.errors:>8}"
        )
    if args.json:
        args.json.write_text(json.dumps({"results": [asdict(r) for r in results]}, indent=2))
    return 0 if all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
