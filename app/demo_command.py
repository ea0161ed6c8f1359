"""`mcu-sim demo`: the scripted consultation (app/demo/scenario.py) with its proof.

Starts the server on a free loopback port and four simulated terminals in this process,
drives the consultation through the SOAP API only, and prints which expectations held;
`--out DIR` also writes every terminal's decoded picture per step and DIR/report.json.
Exit code 0 when every expectation held, 1 otherwise, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from app.demo.scenario import DemoOptions
from app.demo.soap_client import REFERENCE_WSDL
from mcu.model import VideoFormat

# the booked videoFormat of every site: what the MCU encodes for them
FORMATS = {"4cif": VideoFormat.CIF4, "720p": VideoFormat.HD720P30, "1080p": VideoFormat.HD1080P30}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="write <step>-<uri>.png and report.json here")
    parser.add_argument("--data-dir", type=Path,
                        help="the server's data directory (default: a temporary one)")
    parser.add_argument("--config", type=Path, help="TOML settings for the server")
    parser.add_argument("--wsdl", type=Path, default=REFERENCE_WSDL,
                        help=f"the reference WSDL zeep is built from (default {REFERENCE_WSDL})")
    parser.add_argument("--format", choices=sorted(FORMATS), default="4cif",
                        help="videoFormat booked for the sites (default 4cif: 704x576@30)")
    parser.add_argument("--rate", default="1024k", help="the conference's rate (default 1024k)")
    parser.add_argument("--browser", action="store_true",
                        help="add a Chromium terminal (Debian's chromium and the playwright "
                        "package; skipped with a note when missing) to the consultation")
    parser.add_argument("--step-timeout", type=float, default=20.0,
                        help="seconds a step may take to show its effect (default 20)")


def run(args: argparse.Namespace) -> int:
    # aiortc and aioice log every ICE check at INFO: the summary is the demo's output
    if not args.wsdl.is_file():
        print(f"mcu-sim demo: no reference WSDL at {args.wsdl} (use --wsdl)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    options = DemoOptions(
        out_dir=args.out,
        data_dir=args.data_dir,
        config=args.config,
        wsdl=args.wsdl,
        video_format=FORMATS[args.format],
        rate=args.rate,
        step_timeout=args.step_timeout,
        browser=args.browser,
    )
    from app.demo.scenario import run_demo
    from gateway.settings import SettingsError

    try:
        report = asyncio.run(run_demo(options))
    except SettingsError as error:
        print(f"mcu-sim demo: {error}", file=sys.stderr)
        return 2
    print(report.summary(), flush=True)
    if args.out is not None:
        print(f"pictures and report.json in {args.out}", flush=True)
    return 0 if report.passed else 1
