"""What a terminal declares over signalling (rtc/signalling.py Device, DeviceUpdate) as
the domain's TerminalDevice (mcu/endpoints.py): the one translation between the two.

A register without a device gets `undeclared_device` from its capabilities (content_send,
content_receive). With a device, content reception still comes from the capabilities, and
content sending from the device itself (a connected input that may feed the aux stream):
capabilities.content_send is not read then (docs/signalling.md, "The device").
"""

from __future__ import annotations

from mcu.endpoints import (
    DeviceVersion,
    InputKind,
    MicVersion,
    TerminalDevice,
    VideoInput,
    VideoOutput,
    undeclared_device,
)
from rtc.signalling import Capabilities, Device, DeviceUpdate


def device_of(declared: Device | None, capabilities: Capabilities) -> TerminalDevice:
    """The TerminalDevice of a registration."""
    if declared is None:
        return undeclared_device(content_send=capabilities.content_send,
                                 content_receive=capabilities.content_receive)
    return TerminalDevice(
        version=DeviceVersion(
            model=declared.model,
            license=declared.license,
            soft_version=declared.soft_version,
            hard_version=declared.hard_version,
            logic_version=declared.logic_version,
            manufacturer=declared.manufacturer,
            mics=tuple(MicVersion(mic.ip, mic.version) for mic in declared.mics),
        ),
        inputs=tuple(
            VideoInput(port.id, port.name, connected=port.connected, main=port.main,
                       aux=port.aux, kind=InputKind(port.kind))
            for port in declared.inputs
        ),
        content_receive=capabilities.content_receive,
        outputs=tuple(VideoOutput(screen.id, screen.name) for screen in declared.screens),
    )


def connections_of(update: DeviceUpdate) -> dict[int, bool]:
    """A `device` message as input id -> plugged in."""
    return {state.id: state.connected for state in update.inputs}
