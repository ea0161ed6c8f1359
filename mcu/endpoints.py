"""Endpoints the MCU can reach, and what a terminal says about itself.

An Endpoint is the MCU's handle on one terminal (mcu/media/webrtc_endpoint.py implements it
over the WebSocket signalling). The registry maps URIs to registered endpoints; the default
dialer asks it who is reachable. An endpoint's device (TerminalDevice: version, video
inputs, screens, microphones) answers the siteMgr queries: a WebRTC terminal's is what its
registration declared (register.device), kept up to date by its `device` messages (a cable
plugged or unplugged); a terminal that declares none is described by `undeclared_device()`
(docs/signalling.md, "The device").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mcu.calls import Call

HD_OUTPUT_NAMES = ("HD1", "HD2", "HD3", "HD4", "HD5", "SD1", "SD2")  # hdOut 0..6
MAX_SCREENS = 3


class InputKind(Enum):
    """What is plugged into (or meant for) a video input."""

    CAMERA = "camera"
    PC = "pc"
    DOC_CAMERA = "doc-camera"


@dataclass(frozen=True)
class VideoInput:
    """One video input port of a terminal (AuxStreamInfoEx / VideoSourcesInfoEx)."""

    id: int
    name: str
    connected: bool = True  # a source (camera, PC) is plugged into this port
    main: bool = True  # may feed the main stream
    aux: bool = True  # may feed the aux (content) stream
    kind: InputKind = InputKind.CAMERA


@dataclass(frozen=True)
class VideoOutput:
    """One screen of a terminal: a video output port, numbered like setVideoOutSrcEx's hdOut
    (0..4 HD1..HD5, 5..6 SD1..SD2) and named after it."""

    id: int
    name: str


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
    outputs: tuple[VideoOutput, ...] = (VideoOutput(0, HD_OUTPUT_NAMES[0]),)

    @property
    def has_content_input(self) -> bool:
        """A source is plugged into an input able to feed the aux (content) stream: the
        site may hold the content floor."""
        return any(port.connected for port in self.aux_inputs)

    def input(self, input_id: int) -> VideoInput | None:
        return next((port for port in self.inputs if port.id == input_id), None)

    def output(self, output_id: int) -> VideoOutput | None:
        return next((port for port in self.outputs if port.id == output_id), None)

    @property
    def main_inputs(self) -> tuple[VideoInput, ...]:
        return tuple(port for port in self.inputs if port.main)

    @property
    def aux_inputs(self) -> tuple[VideoInput, ...]:
        return tuple(port for port in self.inputs if port.aux)

    def with_connections(self, connected: Mapping[int, bool]) -> TerminalDevice:
        """The same device with the inputs of `connected` (input id -> a source plugged in)
        plugged or unplugged. KeyError naming the first id that is not one of its inputs
        (nothing is changed then)."""
        unknown = [input_id for input_id in connected if self.input(input_id) is None]
        if unknown:
            raise KeyError(unknown[0])
        return replace(self, inputs=tuple(
            replace(port, connected=connected.get(port.id, port.connected))
            for port in self.inputs))


def undeclared_device(*, content_send: bool = True, content_receive: bool = True,
                      model: str = "MCU-SIM Terminal") -> TerminalDevice:
    """The documented device of a terminal that declares none at registration
    (docs/signalling.md, "The device"): the input ports of the reference example
    (queryVideoOutSrcStateEx): a camera on port 0 (main only), port 1 a PC input (main and
    aux) with its PC plugged in when the registration declared a content input
    (capabilities.content_send), ports 2 (a document camera input) and 4 (a second PC
    input) empty; one screen (HD1); no microphone versions."""
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
            VideoInput(1, "HD-DVI/SXGA/YPrPb IN 1", connected=content_send, main=True, aux=True,
                       kind=InputKind.PC),
            VideoInput(2, "SD-CVBS IN 1", connected=False, main=True, aux=True,
                       kind=InputKind.DOC_CAMERA),
            VideoInput(4, "HD-DVI/SXGA/YPrPb IN 2", connected=False, main=True, aux=True,
                       kind=InputKind.PC),
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
