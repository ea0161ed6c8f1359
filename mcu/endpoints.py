"""Endpoints the MCU can reach, and what a terminal says about itself.

An Endpoint is the MCU's handle on one terminal (mcu/media/webrtc_endpoint.py implements it
over the WebSocket signalling). The registry maps URIs to registered endpoints; the default
dialer asks it who is reachable. An endpoint's device description (video inputs, version)
answers the siteMgr queries; a WebRTC terminal is described by `simulated_terminal_device()`
with what its registration declared (capabilities.content_send / content_receive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mcu.calls import Call


@dataclass(frozen=True)
class VideoInput:
    """One video input port of a terminal (AuxStreamInfoEx / VideoSourcesInfoEx)."""

    id: int
    name: str
    connected: bool = True  # a source (camera, PC) is plugged into this port
    main: bool = True  # may feed the main stream
    aux: bool = True  # may feed the aux (content) stream


@dataclass(frozen=True)
class MicVersion:
    ip: str
    version: str


@dataclass(frozen=True)
class DeviceVersion:
    """SiteDeviceVersionInfoEx."""

    model: str
    license: str = ""
    soft_version: str = ""
    hard_version: str = ""
    logic_version: str = ""
    manufacturer: str = ""
    mics: tuple[MicVersion, ...] = ()


@dataclass(frozen=True)
class TerminalDevice:
    version: DeviceVersion
    inputs: tuple[VideoInput, ...] = field(default_factory=tuple)
    content_receive: bool = True  # it can show a second (content) stream

    @property
    def has_content_input(self) -> bool:
        """A source is plugged into an input able to feed the aux (content) stream: the
        site may hold the content floor."""
        return any(port.connected for port in self.aux_inputs)

    def input(self, input_id: int) -> VideoInput | None:
        return next((port for port in self.inputs if port.id == input_id), None)

    @property
    def main_inputs(self) -> tuple[VideoInput, ...]:
        return tuple(port for port in self.inputs if port.main)

    @property
    def aux_inputs(self) -> tuple[VideoInput, ...]:
        return tuple(port for port in self.inputs if port.aux)


def simulated_terminal_device(
    model: str = "MCU-SIM Terminal", *, content_send: bool = True, content_receive: bool = True
) -> TerminalDevice:
    """The device a simulated terminal declares: the input ports of the reference example
    (queryVideoOutSrcStateEx), a camera on port 0 and, when it declared a content input
    (`content_send`), its content source (a PC) plugged into port 1; without one, port 1 is
    empty and the terminal has no aux source connected."""
    return TerminalDevice(
        version=DeviceVersion(
            model=model,
            soft_version="mcu-sim 0.1.0",
            hard_version="sim",
            logic_version="1.0",
            manufacturer="mcu-sim",
        ),
        inputs=(
            VideoInput(0, "HD-SDI", connected=True, main=True, aux=False),
            VideoInput(1, "HD-DVI/SXGA/YPrPb IN 1", connected=content_send, main=True, aux=True),
            VideoInput(2, "SD-CVBS IN 1", connected=False, main=True, aux=True),
            VideoInput(4, "HD-DVI/SXGA/YPrPb IN 2", connected=False, main=True, aux=True),
        ),
        content_receive=content_receive,
    )


class Endpoint(Protocol):
    """A terminal the MCU can call. On offer_call the endpoint answers through the Call object
    it is given (call.ringing(), call.answer(), call.reject(reason)), at once or later; on
    call_ended it drops its media. A terminal that hangs up itself calls call.hang_up_remote().
    """

    @property
    def uri(self) -> str: ...

    @property
    def device(self) -> TerminalDevice: ...

    def offer_call(self, call: Call) -> None: ...

    def call_ended(self, call: Call) -> None: ...


class EndpointRegistry:
    """URI -> the registered endpoint. Empty until terminals register over signalling."""

    def __init__(self) -> None:
        self._endpoints: dict[str, Endpoint] = {}

    def register(self, endpoint: Endpoint) -> None:
        self._endpoints[endpoint.uri] = endpoint

    def unregister(self, uri: str) -> Endpoint | None:
        return self._endpoints.pop(uri, None)

    def lookup(self, uri: str) -> Endpoint | None:
        return self._endpoints.get(uri)

    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints.values())

    def __contains__(self, uri: object) -> bool:
        return uri in self._endpoints

    def __len__(self) -> int:
        return len(self._endpoints)
