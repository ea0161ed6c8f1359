"""The `mcu-sim` console script: one subcommand per part of the simulator.

Each subcommand's module is imported only when that subcommand runs, so
`mcu-sim layouts` does not pay for the SOAP and WebRTC stacks. Every subcommand that runs
WebRTC (serve, terminals, demo) starts with rtc/aiortc_hooks.py installed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, help). The module provides add_arguments(parser) and run(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("app.serve_command", "run the SOAP gateway and the MCU"),
    "node": ("app.node_command", "run an MCU media node (coordinated through Redis)"),
    "layouts": ("mcu.media.gallery", "print or render the 50 continuous-presence layouts"),
    "terminals": ("terminals.run_command", "run N simulated terminals against an MCU"),
    "recordings": ("app.recordings_command", "list the recordings of a data directory (JSON)"),
    "demo": ("app.demo_command", "a scripted consultation over SOAP, proved from what 4 terminals decode"),
}
WITHOUT_WEBRTC = frozenset({"layouts", "recordings"})  # subcommands that never load aiortc


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported to declare its arguments."""
    parser = argparse.ArgumentParser(prog="mcu-sim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text)
        sub_parser.set_defaults(module_name=module_name)
        if name == command:
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in WITHOUT_WEBRTC:
        from rtc import aiortc_hooks

        aiortc_hooks.install()  # aiortc's and aioice's process-wide replacements, once, first
    args = build_parser(command).parse_args(argv)
    return int(importlib.import_module(args.module_name).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
