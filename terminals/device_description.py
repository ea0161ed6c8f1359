"""The device a simulated terminal declares (register.device, rtc/signalling.py Device),
from a TOML file (`mcu-sim terminals --device FILE`) or from options (`--screens 3
--inputs camera,pc,doc-camera`); docs/terminals.md, "The device".

A TOML file holds the `device` object of register as TOML (model, the version fields,
[[inputs]], [[screens]], [[mics]]) and is checked against the very schema the MCU reads
(rtc/signalling_schema.build): a file the MCU would refuse is refused here, naming the key.

From options, input i (in the order given) has id i; its name follows the reference
example's port names by kind (camera "HD-SDI", pc "HD-DVI/SXGA/YPrPb IN n", doc-camera
"SD-CVBS IN n"); a camera feeds the main stream only, a PC or a document camera either
stream; every source is plugged in. Screen s (1..3) is hdOut s-1, named HD1..HD3. One
microphone per terminal, at a TEST-NET-1 address (RFC 5737) numbered by site index.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from rtc.signalling import (
    INPUT_KINDS,
    MAX_INPUTS,
    MAX_SCREENS,
    DeclaredInput,
    DeclaredMic,
    DeclaredScreen,
    Device,
)
from rtc.signalling_schema import SchemaError, build

HD_OUTPUT_NAMES = ("HD1", "HD2", "HD3")
SOFT_VERSION = "mcu-sim 0.1.0"
_PORT_NAMES = {"camera": "HD-SDI", "pc": "HD-DVI/SXGA/YPrPb IN", "doc-camera": "SD-CVBS IN"}


class DeviceDescriptionError(ValueError):
    """A device description that cannot be declared (bad option, unreadable or refused
    TOML file)."""


def parse_inputs(text: str) -> list[str]:
    """`camera,pc,doc-camera` -> the input kinds, in order (1..MAX_INPUTS of INPUT_KINDS)."""
    kinds = [item.strip() for item in text.split(",")]
    if not 1 <= len(kinds) <= MAX_INPUTS:
        raise DeviceDescriptionError(f"--inputs: 1..{MAX_INPUTS} inputs, got {len(kinds)}")
    unknown = [kind for kind in kinds if kind not in INPUT_KINDS]
    if unknown:
        raise DeviceDescriptionError(f"--inputs: {unknown[0]!r} is not one of "
                                     f"{', '.join(INPUT_KINDS)}")
    return kinds


def device_from_options(screens: int, kinds: list[str], site_index: int = 0,
                        model: str | None = None) -> Device:
    """The device of `screens` screens (1..3) and inputs of these kinds."""
    if not 1 <= screens <= MAX_SCREENS:
        raise DeviceDescriptionError(f"--screens: 1..{MAX_SCREENS}, got {screens}")
    counts: dict[str, int] = {}
    inputs = []
    for index, kind in enumerate(kinds):
        counts[kind] = counts.get(kind, 0) + 1
        name = _PORT_NAMES[kind] if kind == "camera" and counts[kind] == 1 else \
            f"{_PORT_NAMES[kind]} {counts[kind]}"
        inputs.append(DeclaredInput(index, name, kind, connected=True, main=True,
                                    aux=kind != "camera"))
    return Device(
        model=model or ("MCU-SIM Terminal" if screens == 1 else f"MCU-SIM Room {screens}S"),
        inputs=inputs,
        screens=[DeclaredScreen(s, HD_OUTPUT_NAMES[s]) for s in range(screens)],
        mics=[DeclaredMic(f"192.0.2.{site_index % 254 + 1}", "mcu-sim mic 1.0")],
        soft_version=SOFT_VERSION, hard_version="sim", logic_version="1.0",
        manufacturer="mcu-sim",
    )


def device_from_toml(path: Path) -> Device:
    """The device a TOML file describes, checked against the register schema."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DeviceDescriptionError(f"--device {path}: {error}") from None
    try:
        device: Device = build(Device, data, "device")
    except SchemaError as error:
        raise DeviceDescriptionError(f"--device {path}: {error}") from None
    return device


def describe(device: Device | None) -> str:
    """One line for the start-up listing."""
    if device is None:
        return "undeclared device"
    inputs = ",".join(f"{port.kind}{'' if port.connected else '(unplugged)'}"
                      for port in device.inputs)
    return f"{device.model}: {len(device.screens)} screen(s), inputs {inputs}"
