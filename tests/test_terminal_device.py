"""The device a terminal declares (register.device) is what the siteMgr queries answer,
terminal by terminal; a terminal that declares nothing gets the documented undeclared
device; the `device` message plugs and unplugs inputs of a running terminal, and an
operation choosing an unplugged input answers SOURCE_NOT_CONNECTED and changes nothing.
Real SimulatedTerminals over the real signalling of the running server, zeep from the
reference WSDL. Bad device declarations and `device` messages are refused by the schema.
Also: `mcu-sim terminals`' device options and TOML file, and make run's mix."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.serve_command import serve_mix_device
from gateway import result_codes
from mcu.errors import Fault
from rtc.signalling import (
    DeclaredInput,
    DeclaredMic,
    DeclaredScreen,
    Device,
    Register,
    SignallingError,
    parse_message,
)
from terminals.client import SimulatedTerminal
from terminals.device_description import DeviceDescriptionError, device_from_options
from terminals.run_command import add_arguments, device_source
from tests.signalling_helpers import send_register
from tests.test_cdr import SMALL, book, eventually, site_states, ws_url

ROOM, WARD, PLAIN = "0178001", "0178002", "0178003"
IN_CONFERENCE = 2
SOURCE_NOT_CONNECTED = 14600  # 视频源不存在
NOT_SUPPORTED = result_codes.result_code(Fault.NOT_SUPPORTED)
OUT_OF_RANGE = result_codes.result_code(Fault.OUT_OF_RANGE)

ROOM_DEVICE = Device(
    model="Specialist Room 9039S",
    inputs=[
        DeclaredInput(0, "HD-SDI", "camera", connected=True, main=True, aux=False),
        DeclaredInput(3, "HD-DVI/SXGA/YPrPb IN 1", "pc", connected=True, main=True, aux=True),
        DeclaredInput(5, "SD-CVBS IN 1", "doc-camera", connected=False, main=False, aux=True),
    ],
    screens=[DeclaredScreen(0, "HD1"), DeclaredScreen(1, "HD2"), DeclaredScreen(2, "HD3")],
    mics=[DeclaredMic("192.0.2.51", "M210 V100R001C01B014"),
          DeclaredMic("192.0.2.52", "M210 V100R001C01B015")],
    license="2102310AAS6RAB000065", soft_version="VCT V100R011C02B014SP03",
    hard_version="B", logic_version="6.9", manufacturer="HUAWEI",
)
WARD_DEVICE = Device(
    model="Ward cart",
    inputs=[
        DeclaredInput(0, "Camera", "camera", connected=True, main=True, aux=False),
        DeclaredInput(1, "Laptop", "pc", connected=True, main=True, aux=True),
    ],
    screens=[DeclaredScreen(0, "HD1")],
    manufacturer="mcu-sim",
)


def terminal(uri: str, index: int, device: Device | None) -> SimulatedTerminal:
    """A terminal declaring `device`; one whose device has an aux-capable input also owns a
    content source (a small medical record) to show on it."""
    has_aux = device is not None and any(i.aux for i in device.inputs)
    return SimulatedTerminal(
        uri=uri, name=f"Site {uri}", site_index=index, ring_delay_s=0.1, video_format=SMALL,
        loop_frames=30, analyse_every=1 << 30, decode_video=False, decode_audio=False,
        device=device, content="record" if has_aux else None, content_size=(640, 360),
    )


@pytest.fixture
async def registered(gateway_server) -> AsyncIterator[dict[str, SimulatedTerminal]]:
    """Three registered terminals (no conference): the room, the ward cart, and one that
    declares no device."""
    terminals = {ROOM: terminal(ROOM, 50, ROOM_DEVICE), WARD: terminal(WARD, 51, WARD_DEVICE),
                 PLAIN: terminal(PLAIN, 52, None)}
    for t in terminals.values():
        await t.start(ws_url(gateway_server.base_url))
    try:
        yield terminals
    finally:
        for t in terminals.values():
            await t.stop()


@pytest.fixture
async def in_conference(registered, soap, clock) -> str:
    """The room and the ward cart joined in a running conference."""
    conf_id = await asyncio.to_thread(book, soap, "Device review", clock.now(), [ROOM, WARD])
    await eventually(lambda: set(site_states(soap, conf_id).values()) == {IN_CONFERENCE},
                     "both in conference")
    return conf_id


def query(soap, operation: str, uri: str):
    return getattr(soap.site_mgr, operation)(siteUri=uri)


async def ask(soap, operation: str, **arguments):
    return await asyncio.to_thread(getattr(soap.site_mgr, operation), **arguments)


async def comes_to(soap, operation: str, expected: int, timeout: float = 15.0, **arguments):
    """A query answering from the media (isSendAuxStreamEx) comes to `expected`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await ask(soap, operation, **arguments)).result != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{operation} never answered {expected}")
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------------- the queries


async def test_each_terminal_is_answered_with_its_own_device(registered, soap, gateway_server):
    def answers(uri: str):
        version = query(soap, "querySiteVersionInfoEx", uri).siteDeviceVersionInfo
        return {
            "version": (version.model, version.license, version.softVersion,
                        version.hardVersion, version.logicVersion, version.manufacturer,
                        [(mic.micIP, mic.version) for mic in version.micVersions]),
            "main": [(p.id, p.name) for p in query(soap, "queryMainStreamSourcesEx",
                                                   uri).auxStreams],
            "aux": [(p.id, p.name) for p in query(soap, "queryAuxStreamSourcesEx",
                                                  uri).auxStreams],
            "states": [(s.sourcesId, s.sourcesState, s.sourcesName)
                       for s in query(soap, "queryVideoOutSrcStateEx", uri).videoSourcesInfos],
            "aux_connected": query(soap, "isConnectAuxSourceEx", uri).result,
        }

    room, ward = await asyncio.to_thread(answers, ROOM), await asyncio.to_thread(answers, WARD)
    assert room == {
        "version": ("Specialist Room 9039S", "2102310AAS6RAB000065", "VCT V100R011C02B014SP03",
                    "B", "6.9", "HUAWEI",
                    [("192.0.2.51", "M210 V100R001C01B014"),
                     ("192.0.2.52", "M210 V100R001C01B015")]),
        "main": [(0, "HD-SDI"), (3, "HD-DVI/SXGA/YPrPb IN 1")],
        "aux": [(3, "HD-DVI/SXGA/YPrPb IN 1"), (5, "SD-CVBS IN 1")],
        "states": [(0, 1, "HD-SDI"), (3, 1, "HD-DVI/SXGA/YPrPb IN 1"), (5, 0, "SD-CVBS IN 1")],
        "aux_connected": 1,
    }
    assert ward["version"][0] == "Ward cart" and ward["version"][-1] == []
    assert ward["main"] == [(0, "Camera"), (1, "Laptop")]
    assert ward["aux"] == [(1, "Laptop")]
    assert ward["states"] == [(0, 1, "Camera"), (1, 1, "Laptop")]
    # the screens each declared, as the MCU holds them
    registry = gateway_server.gateway.runtime.registry
    assert [(o.id, o.name) for o in registry.lookup(ROOM).device.outputs] == [
        (0, "HD1"), (1, "HD2"), (2, "HD3")]
    assert [(o.id, o.name) for o in registry.lookup(WARD).device.outputs] == [(0, "HD1")]


async def test_a_terminal_that_declares_nothing_gets_the_undeclared_device(registered, soap):
    version = (await ask(soap, "querySiteVersionInfoEx", siteUri=PLAIN)).siteDeviceVersionInfo
    assert (version.model, version.manufacturer) == ("MCU-SIM Terminal", "mcu-sim")
    states = (await ask(soap, "queryVideoOutSrcStateEx", siteUri=PLAIN)).videoSourcesInfos
    # the reference example's ports; it has no content source, so its capabilities declared
    # no content input: port 1 has nothing plugged in
    assert [(s.sourcesId, s.sourcesState) for s in states] == [(0, 1), (1, 0), (2, 0), (4, 0)]
    assert (await ask(soap, "isConnectAuxSourceEx", siteUri=PLAIN)).result == 0


async def test_content_send_follows_the_declared_device(gateway_server):
    """A declared device decides content sending, whatever capabilities.content_send says:
    the terminal derives it, and the MCU reads the device."""
    unplugged = Device(model="No PC", inputs=[
        DeclaredInput(0, "Camera", "camera"),
        DeclaredInput(1, "PC", "pc", connected=False, aux=True)], screens=[DeclaredScreen(0, "HD1")])
    t = terminal("0178004", 53, unplugged)
    assert t.capabilities.content_send is False
    await t.start(ws_url(gateway_server.base_url))
    try:
        device = gateway_server.gateway.runtime.registry.lookup("0178004").device
        assert device.has_content_input is False
        await t.plug(1)
        assert t.capabilities.content_send is True  # a re-register would declare it
        device = gateway_server.gateway.runtime.registry.lookup("0178004").device
        assert device.has_content_input is True
    finally:
        await t.stop()


# ---------------------------------------------------------------------- plug and unplug


async def test_unplugging_the_pc_changes_the_answers_and_refuses_it_as_a_source(
        registered, in_conference, soap, gateway_server):
    ward = registered[WARD]
    runtime = gateway_server.gateway.runtime
    assert await ask(soap, "setMainAuxStreamSourcesEx", siteUri=WARD, localMainSrcs=[0],
                     localAuxSrc=1) == 0
    await ward.unplug(1)
    states = (await ask(soap, "queryVideoOutSrcStateEx", siteUri=WARD)).videoSourcesInfos
    assert [(s.sourcesId, s.sourcesState) for s in states] == [(0, 1), (1, 0)]
    assert (await ask(soap, "isConnectAuxSourceEx", siteUri=WARD)).result == 0
    # the port is still an aux source of the terminal (the reference example lists empty ones)
    aux = (await ask(soap, "queryAuxStreamSourcesEx", siteUri=WARD)).auxStreams
    assert [p.id for p in aux] == [1]

    # the chosen aux source is unplugged: refused, nothing changes
    assert await ask(soap, "setAuxStreamEx", siteUri=WARD, controlCode=0) == SOURCE_NOT_CONNECTED
    assert (await ask(soap, "isSendAuxStreamEx", siteUri=WARD)).result == 0
    for main, aux_source in (([1], 1), ([0, 1], 1), ([0], 1)):
        answer = await ask(soap, "setMainAuxStreamSourcesEx", siteUri=WARD,
                           localMainSrcs=main, localAuxSrc=aux_source)
        assert answer == SOURCE_NOT_CONNECTED, (main, aux_source)
    assert runtime.devices.stream_sources(WARD) == ((0,), 1)

    # plugged back: it works again
    await ward.plug(1)
    assert (await ask(soap, "isConnectAuxSourceEx", siteUri=WARD)).result == 1
    assert await ask(soap, "setMainAuxStreamSourcesEx", siteUri=WARD, localMainSrcs=[0, 1],
                     localAuxSrc=1) == 0
    assert await ask(soap, "setAuxStreamEx", siteUri=WARD, controlCode=0) == 0
    await comes_to(soap, "isSendAuxStreamEx", 1, siteUri=WARD)  # granted: its content flows

    # the presenter unplugs its only content source: it loses the floor
    await ward.unplug(1)
    await eventually(lambda: not ward.holds_floor, "the ward's floor released")
    assert (await ask(soap, "isSendAuxStreamEx", siteUri=WARD)).result == 0
    # no content source left anywhere on the terminal: the floor's own refusal
    assert runtime.devices.stream_sources(WARD) == ((0, 1), 1)
    assert await ask(soap, "setMainAuxStreamSourcesEx", siteUri=WARD, localMainSrcs=[0],
                     localAuxSrc=1) == SOURCE_NOT_CONNECTED


async def test_screens_bound_set_video_out(registered, in_conference, soap, gateway_server):
    """setVideoOutSrcEx names one of the terminal's screens: the room has HD1..HD3, the
    ward cart HD1 only."""
    assert await ask(soap, "setVideoOutSrcEx", siteUri=ROOM, hdOut=2, videoSrc=1) == 0
    assert await ask(soap, "setVideoOutSrcEx", siteUri=WARD, hdOut=2, videoSrc=1) == OUT_OF_RANGE
    runtime = gateway_server.gateway.runtime
    assert runtime.devices.video_outputs(WARD) == {}
    assert runtime.devices.video_outputs(ROOM) == {2: 1}


async def test_plug_of_an_input_not_declared_is_refused_locally(registered):
    with pytest.raises(ValueError):
        await registered[WARD].unplug(7)
    with pytest.raises(ValueError):
        await registered[PLAIN].unplug(1)  # it declared no device


# ---------------------------------------------------------------------- bad messages


def register_with(device: dict) -> str:
    return json.dumps({"type": "register", "uri": "0178009", "name": "x", "device": device})


GOOD = json.loads(Register("u", "n", device=WARD_DEVICE).to_json())["device"]


@pytest.mark.parametrize("change", [
    {"inputs": []},  # at least one input
    {"screens": []},  # at least one screen
    {"screens": [{"id": s, "name": f"HD{s + 1}"} for s in range(4)]},  # at most 3
    {"screens": [{"id": 7, "name": "HD8"}]},  # hdOut 0..6
    {"inputs": [{"id": 0, "name": "a", "kind": "fax"}]},
    {"inputs": [{"id": 0, "name": "a", "kind": "pc", "main": False, "aux": False}]},
    {"inputs": [{"id": 0, "name": "a", "kind": "pc"}, {"id": 0, "name": "b", "kind": "pc"}]},
    {"screens": [{"id": 0, "name": "HD1"}, {"id": 0, "name": "again"}]},
    {"inputs": [{"id": 0, "name": " ", "kind": "camera"}]},
    {"inputs": [{"id": 256, "name": "a", "kind": "camera"}]},
    {"inputs": [{"id": 0, "name": "a", "kind": "camera", "connected": 1}]},
    {"model": ""},
    {"mics": [{"ip": "", "version": "1"}]},
])
def test_bad_device_declarations_are_refused_by_the_schema(change):
    with pytest.raises(SignallingError):
        parse_message(register_with({**GOOD, **change}))


def test_a_good_declaration_round_trips():
    message = parse_message(register_with(GOOD))
    assert isinstance(message, Register) and message.device == WARD_DEVICE


@pytest.mark.parametrize("body", [
    {"inputs": []},
    {"inputs": [{"id": 1}]},
    {"inputs": [{"id": 1, "connected": "no"}]},
    {"inputs": [{"id": 1, "connected": False}, {"id": 1, "connected": True}]},
    {},
])
def test_bad_device_messages_are_refused_by_the_schema(body):
    with pytest.raises(SignallingError):
        parse_message(json.dumps({"type": "device", **body}))


async def test_device_messages_over_the_wire(gateway_server):
    """Malformed -> `malformed`; an input not declared -> `unknown_input` and nothing
    changes; before register -> `unauthorized`; a good one changes the device."""
    runtime = gateway_server.gateway.runtime
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(ws_url(gateway_server.base_url)) as ws:
        await ws.send_str(json.dumps({"type": "device",
                                      "inputs": [{"id": 1, "connected": False}]}))
        challenge = await ws.receive_json(timeout=10)
        assert challenge["type"] == "challenge"
        assert (await ws.receive_json(timeout=10))["code"] == "unauthorized"
        await send_register(ws, Register("0178010", "raw", device=WARD_DEVICE), challenge=challenge)
        assert (await ws.receive_json(timeout=10))["type"] == "registered"
        before = runtime.registry.lookup("0178010").device

        async def answer(message: dict) -> dict:
            await ws.send_str(json.dumps(message))
            await ws.send_str(json.dumps({"type": "ping", "seq": 7}))
            first = await ws.receive_json(timeout=10)
            if first["type"] == "pong":
                return first
            assert (await ws.receive_json(timeout=10))["type"] == "pong"
            return first

        reply = await answer({"type": "device", "inputs": [{"id": 1, "connected": "x"}]})
        assert reply["code"] == "malformed"
        reply = await answer({"type": "device", "inputs": [{"id": 1, "connected": False},
                                                          {"id": 9, "connected": False}]})
        assert reply["code"] == "unknown_input"
        assert runtime.registry.lookup("0178010").device == before  # all or nothing
        reply = await answer({"type": "device", "inputs": [{"id": 1, "connected": False}]})
        assert reply["type"] == "pong"
        assert runtime.registry.lookup("0178010").device.input(1).connected is False


# ---------------------------------------------------------------------- mcu-sim terminals


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_screens_and_inputs_options():
    source = device_source(parse("--screens", "3", "--inputs", "camera,pc,doc-camera"))
    assert source is not None
    device = source(5)
    assert [(p.id, p.kind, p.main, p.aux, p.connected) for p in device.inputs] == [
        (0, "camera", True, False, True), (1, "pc", True, True, True),
        (2, "doc-camera", True, True, True)]
    assert [(s.id, s.name) for s in device.screens] == [(0, "HD1"), (1, "HD2"), (2, "HD3")]
    assert device.mics and device.content_send
    # --screens alone: camera and PC; --inputs alone: one screen
    assert [p.kind for p in device_source(parse("--screens", "2"))(0).inputs] == ["camera", "pc"]
    assert len(device_source(parse("--inputs", "camera"))(0).screens) == 1
    assert device_source(parse()) is None  # nothing: the terminals declare no device


@pytest.mark.parametrize("argv", [
    ("--screens", "4"), ("--screens", "0"), ("--inputs", "camera,fax"), ("--inputs", ""),
    ("--inputs", ",".join(["camera"] * 9)),
])
def test_bad_device_options(argv):
    with pytest.raises(DeviceDescriptionError):
        device_source(parse(*argv))


def test_device_toml_file(tmp_path: Path):
    path = tmp_path / "room.toml"
    path.write_text('''
model = "Specialist Room"
manufacturer = "mcu-sim"
soft_version = "1.2"

[[inputs]]
id = 0
name = "HD-SDI"
kind = "camera"
aux = false

[[inputs]]
id = 2
name = "Document camera"
kind = "doc-camera"
connected = false
aux = true

[[screens]]
id = 0
name = "HD1"

[[screens]]
id = 1
name = "HD2"

[[mics]]
ip = "192.0.2.9"
version = "M210"
''')
    device = device_source(parse("--device", str(path)))(0)
    assert device.model == "Specialist Room" and device.soft_version == "1.2"
    assert [(p.id, p.kind, p.connected, p.aux) for p in device.inputs] == [
        (0, "camera", True, False), (2, "doc-camera", False, True)]
    assert [s.name for s in device.screens] == ["HD1", "HD2"]
    assert device.mics == [DeclaredMic("192.0.2.9", "M210")]
    with pytest.raises(ValueError, match="not both"):
        device_source(parse("--device", str(path), "--screens", "2"))
    path.write_text(path.read_text().replace('kind = "camera"', 'kind = "webcam"'))
    with pytest.raises(DeviceDescriptionError, match=r"device\.inputs\[0\]\.kind"):
        device_source(parse("--device", str(path)))
    path.write_text("model = ")
    with pytest.raises(DeviceDescriptionError):
        device_source(parse("--device", str(path)))
    with pytest.raises(DeviceDescriptionError):
        device_source(parse("--device", str(tmp_path / "missing.toml")))


def test_make_run_mix():
    """Most terminals single-screen with a camera and a PC, the last a three-screen room."""
    devices = [serve_mix_device(index, 4) for index in range(4)]
    assert [len(d.screens) for d in devices] == [1, 1, 1, 3]
    assert [[p.kind for p in d.inputs] for d in devices] == [
        ["camera", "pc"]] * 3 + [["camera", "pc", "doc-camera"]]
    assert len(serve_mix_device(0, 1).screens) == 1
    with pytest.raises(DeviceDescriptionError):
        device_from_options(4, ["camera"])
