"""A simulated terminal's (terminals/client.py) calls and controls: invites, dial-ins and
point-to-point calls, the BFCP content floor, its device's inputs, cameras and sources."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from aiortc import RTCSessionDescription

from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from rtc.content_sdp import mark_content
from rtc.deadline import within
from rtc.screen_sdp import mark_screens
from rtc.signalling import (
    Answer,
    CameraControl,
    ContentParams,
    Decline,
    DeviceUpdate,
    Error,
    FloorParams,
    InputState,
    Invite,
    Join,
    Joined,
    Message,
    PlaceCall,
    Ringing,
    Sources,
)
from terminals.aux_input_page import CONTENT_INPUT_KINDS, InputPage
from terminals.call_state import CallState
from terminals.content_source import Presentation
from terminals.floor_client import FloorParticipant, FloorRefused
from terminals.media_sources import SUPPORTED_VIDEO_CODECS, describe_streams
from terminals.terminal_types import CallRefused, TerminalCall
from terminals.terminal_views import TerminalViews

# the terminal's log, one name for all its modules (as when they were one module)
log = logging.getLogger("terminals.client")


class TerminalCalls(TerminalViews):
    """A terminal's calls: answering invites, dialling in and calling, the content floor
    (BFCP), the device's inputs, cameras and sources the MCU chooses."""

    def _move_camera(self, message: CameraControl) -> None:
        """Obey the MCU's camera command (terminals/camera.py); a command for an input
        without a camera, or an empty preset, changes nothing."""
        camera = self.cameras.get(message.input)
        obeyed = camera is not None and camera.command(message.action, message.preset,
                                                       time.time())
        self.camera_commands.append((message, obeyed))
        if not obeyed:
            log.info("%s: camera command %s not obeyed", self.uri, message)

    def _choose_sources(self, message: Sources) -> None:
        """Obey the MCU's choice of sources: the main track shows the chosen inputs from
        its next frame (terminals/main_sources.py); one naming an input this terminal does
        not have (or an aux input that cannot feed content) changes nothing."""
        kinds = self.main_sources.kinds
        aux_ok = message.aux is None or message.aux in kinds
        obeyed = aux_ok and self.main_sources.select(message.main)
        if obeyed:
            self.aux_source = message.aux
            self._share_aux_input()
        self.source_commands.append((message, obeyed))
        if not obeyed:
            log.info("%s: sources %s not obeyed", self.uri, message)

    def aux_page(self) -> InputPage | None:
        """What the content stream shares for the chosen aux source: the input's picture
        when the terminal declared its device and the MCU chose one of its PC or
        document-camera inputs; None (the document pages) otherwise."""
        aux = self.aux_source
        kind = None if aux is None or self.device is None else self.main_sources.kinds.get(aux)
        if aux is None or kind not in CONTENT_INPUT_KINDS:
            return None
        return InputPage(kind, aux)

    def _share_aux_input(self) -> None:
        """The content source shares the chosen aux input's picture (aux_page); a call's
        content track switches to it once its loops are encoded (in the background)."""
        source = self.content_source
        if source is None:
            return
        page = self.aux_page()
        if source.pages == (source.document_pages if page is None else (page,)):
            return
        source.show_input(page)
        call, codec = self._call, self._content_codec
        if call is not None and call.content_track is not None and codec is not None \
                and codec in SUPPORTED_VIDEO_CODECS:
            task = asyncio.get_running_loop().create_task(self._switch_content(call, codec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _switch_content(self, call: TerminalCall, codec: str) -> None:
        assert self.content_source is not None
        loops, pages = await self.content_source.prepare_pages(codec)
        # a later choice or the call's end meanwhile: its own switch (or none) applies
        if self._call is call and call.content_track is not None \
                and pages == self.content_source.pages:
            call.content_track.use_loops(loops, pages)

    async def _on_invite(self, invite: Invite) -> None:
        if self._call is not None or self.state != CallState.IDLE:
            await self._send(Decline(invite.call_id, "busy"))
            return
        if self.answer_mode == "decline":
            await self._send(Decline(invite.call_id, "declined"))
            return
        self.state = CallState.RINGING
        self._ringing_call_id = invite.call_id
        await self._send(Ringing(invite.call_id))
        if self.answer_mode == "never":
            return  # it rings until the MCU gives up (and sends bye)
        await asyncio.sleep(self.ring_delay_s)
        if self.state != CallState.RINGING or self._ringing_call_id != invite.call_id:
            return
        self._ringing_call_id = None
        self.state = CallState.CONNECTING
        self._follow_content(invite.content)
        call = await self._new_call(invite.call_id, offer=invite.sdp)
        call.conf_id = invite.conf_id
        try:
            await call.pc.setRemoteDescription(RTCSessionDescription(invite.sdp, "offer"))
            self._silence_unknown_video(call)
            await self._set_local(call, await call.pc.createAnswer())
            self.sdp_received = invite.sdp
            await self._start_sending(call, call.pc.localDescription.sdp)
        except Exception as error:  # a bad offer must not kill the terminal
            log.warning("%s: cannot answer: %s", self.uri, error)
            await self._send(Decline(invite.call_id, f"cannot answer: {error}"))
            await self._end_call(notify=False)
            return
        await self._send(Answer(invite.call_id, self.sdp_sent or call.pc.localDescription.sdp))
        await self._open_floor(call, invite.floor)

    async def join(self, access_code: str, password: str = "", timeout: float = 15.0) -> str:
        """Dial in (dialingMode 1): returns the conference id, or raises CallRefused."""
        call, reply = await self._offer(
            lambda call_id, sdp: Join(call_id, access_code, password, sdp), Joined, timeout,
            "no answer to join")
        assert isinstance(reply, Joined)
        call.conf_id = reply.conf_id
        self._follow_content(reply.content)
        await self._accept_answer(call, reply.sdp)
        await self._open_floor(call, reply.floor)
        return reply.conf_id

    async def call(self, to: str, timeout: float = 15.0, rate: str = "") -> None:
        """A point-to-point call to the registered terminal `to`: the MCU relays the offer
        and the answer, the media flows between the two terminals. Returns once answered;
        raises CallRefused when the MCU refuses it or the callee declines."""
        call, reply = await self._offer(
            lambda call_id, sdp: PlaceCall(call_id, to, sdp, rate), Answer, timeout,
            "no answer to the call")
        assert isinstance(reply, Answer)
        await self._accept_answer(call, reply.sdp)

    async def _offer(
        self,
        request: Callable[[str, str], Message],
        accepted: type[Message],
        timeout: float,
        no_answer: str,
    ) -> tuple[TerminalCall, Message]:
        """Send our offer in `request` (call id, SDP) and wait for the reply of that call:
        the `accepted` message, or CallRefused (an error, a decline or bye, no reply)."""
        if self._call is not None:
            raise CallRefused("already in a call")
        call_id = uuid.uuid4().hex
        self.state = CallState.CONNECTING
        call = await self._new_call(call_id)
        await self._set_local(call, await call.pc.createOffer())
        self._joining_call_id = call_id
        self._pending_join = asyncio.get_running_loop().create_future()
        await self._send(request(call_id, self.sdp_sent or call.pc.localDescription.sdp))
        try:
            reply = await within(self._pending_join, timeout)
        except TimeoutError:
            await self._end_call(notify=True)
            raise CallRefused(no_answer) from None
        finally:
            self._pending_join = None
            self._joining_call_id = None
        if not isinstance(reply, accepted):
            await self._end_call(notify=False)
            detail = reply.message if isinstance(reply, Error) else getattr(reply, "reason", "")
            raise CallRefused(detail, reply.code if isinstance(reply, Error) else "")
        return call, reply

    async def _set_local(self, call: TerminalCall, description: RTCSessionDescription) -> None:
        """Apply our offer or answer, stating the level and size of the video we send."""
        sdp = describe_streams(description.sdp, self.video_format)
        await call.pc.setLocalDescription(RTCSessionDescription(sdp, description.type))
        self.sdp_sent = mark_screens(mark_content(call.pc.localDescription.sdp))

    async def _accept_answer(self, call: TerminalCall, sdp: str) -> None:
        self.sdp_received = sdp
        await call.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        await self._start_sending(call, sdp)

    def _follow_content(self, params: ContentParams | None) -> None:
        """Send content as the conference calls for (the call's content parameters): its
        presentation (0 slides; 1 motion and 2 dual stream: motion) at most at the frame rate
        the MCU signalled. Without parameters (a point-to-point call) the source keeps its
        own settings."""
        if params is None or self.content_source is None:
            return
        mode = Presentation.SLIDES if params.presentation == 0 else Presentation.MOTION
        self.content_source.set_presentation(mode, params.fps)

    async def _open_floor(self, call: TerminalCall, params: FloorParams | None) -> None:
        """Connect the call's BFCP floor participant when the MCU offered one. A floor that
        cannot be reached leaves the call up without content floor control."""
        if params is None or self._call is not call:
            return
        participant = FloorParticipant(params, self._floor_changed, self.tls)
        try:
            await participant.connect()
        except (OSError, ConnectionClosed, FloorRefused, TimeoutError) as error:
            log.warning("%s: BFCP floor at %s:%d not reached: %s", self.uri, params.host,
                        params.port, error)
            await participant.close()
            return
        if self._call is not call:  # the call ended meanwhile
            await participant.close()
            return
        self.floor = participant

    async def _floor_changed(self, granted: bool) -> None:
        """The floor was granted (the content starts flowing) or lost (it stops), then the
        on_floor hook is told."""
        if granted:
            self.start_content()
        else:
            self.stop_content()
        if self.on_floor is not None:
            await self.on_floor(granted)

    @property
    def holds_floor(self) -> bool:
        """The MCU granted this terminal the content floor (and did not revoke it)."""
        return self.floor is not None and self.floor.holds_floor

    async def request_floor(self) -> RequestStatus:
        """A person pressing "share": BFCP FloorRequest; GRANTED or DENIED (floor locked to
        another site). FloorRefused for the server's Error, ConnectionClosed without a
        floor connection."""
        if self.floor is None:
            raise ConnectionClosed("this call has no BFCP floor")
        return await self.floor.request()

    async def release_floor(self) -> RequestStatus | None:
        """Stop sharing: BFCP FloorRelease of the granted request (None: nothing held)."""
        if self.floor is None:
            return None
        return await self.floor.release()

    async def plug(self, input_id: int, timeout: float = 5.0) -> None:
        """A source is plugged into the declared input `input_id` (a simulated cable)."""
        await self._set_connected(input_id, True, timeout)

    async def unplug(self, input_id: int, timeout: float = 5.0) -> None:
        """The source of the declared input `input_id` is unplugged."""
        await self._set_connected(input_id, False, timeout)

    async def _set_connected(self, input_id: int, connected: bool, timeout: float) -> None:
        """Change the declared device and tell the MCU (`device`); returns once the MCU has
        handled it (the pong of a ping sent after it: the MCU handles a socket's messages in
        order). ValueError for an input the terminal did not declare."""
        device = self.device
        if device is None or all(port.id != input_id for port in device.inputs):
            raise ValueError(f"{self.uri} declared no input {input_id}")
        inputs = [replace(port, connected=connected) if port.id == input_id else port
                  for port in device.inputs]
        self.device = replace(device, inputs=inputs)
        self.capabilities = replace(self.capabilities, content_send=self.device.content_send)
        self._sync_connected()
        if not self.registered:  # the next register declares it
            return
        await self._send(DeviceUpdate([InputState(input_id, connected)]))
        await self._round_trip(timeout)
