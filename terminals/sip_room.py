"""A simulated SIP room system (issue 16), built from our own sip/ and rtp/: it registers with
a registrar, answers the MCU's INVITEs after a ring delay (or refuses them), dials a
conference by URI, and in a call sends the picture of its camera scene (terminals/scene.py:
the site's marker card) and its voice (terminals/speech.py) in the codecs it is configured
with, plain RTP or SDES-SRTP; what it receives is decoded and read like a WebRTC simulated
terminal's (terminals/receiver.py: markers per pane, talkers heard).

With `content` (the document its pages start with) and/or `receive_content`, it has a
content stream and takes part in the MCU's content floor as a BFCP client
(terminals/sip_room_content.py; docs/sip.md, "Content and BFCP for SIP sites"):
`request_floor()` / `release_floor()`, the pages sent while it holds the floor,
`read_content()` the content marker of what it receives.

Codec names (its configuration, like a room system's codec list, in order of preference):
video `h264` (High, packetization mode 1), `h264-cb` (constrained baseline), `h264-m0`
(constrained baseline, packetization mode 0: single NAL units only), `h263` (RFC 2190,
4CIF/CIF/QCIF), `h263p` (H.263+), `h261`, `vp8`, `vp9`; audio `opus`, `g722`, `pcmu`, `pcma`.
In a call it can offer again (`reinvite`: a session refresh, hold and resume, another codec
list), as room systems do, and it answers the MCU's re-INVITEs (terminals/sip_room_reoffer.py).

With `ladder`, its video is its camera scene pre-encoded at its own format and at the
smaller sizes the MCU asks for, by re-INVITE (RFC 6236 image attributes) and/or RTCP TMMBR
(`asks`), switched at a keyframe (terminals/sip_room_ladder.py); `honour_asks=False` notes
the asks and keeps sending its own format.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import ssl
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from rtp import sdp
from rtp.content_negotiation import Settled, accept_call, answer_call, offer_call
from rtp.content_reoffer import keep_content_lines, main_part
from rtp.encryption_policy import MediaEncryptType, SdesRule
from rtp.imageattr import understands_imageattr
from rtp.negotiation import CodecOffer, MediaPlan, offer
from rtp.reoffer import SENDING, next_offer, same_session
from rtp.session import MediaSockets, RtpSession
from rtp.tmmbr import size_for_bitrate
from rtp.tracks import IncomingTrack, RtpSender
from sip.dialog import Dialog
from sip.message import Request
from sip.transport import TransportSettings
from sip.useragent import SipReject, SipUserAgent, UaSettings
from terminals.client import ContentKind
from terminals.content_receiver import ContentStatus
from terminals.marker import Rect
from terminals.media_sources import SpeechTrack, VideoFormat
from terminals.receiver import AudioReceiver, PaneStatus, VideoReceiver
from terminals.scene import CameraScene
from terminals.send_log import SendLog
from terminals.sip_room_content import RoomContent, RoomContentCall
from terminals.sip_room_ladder import ASK_KINDS, ROOM_LADDER, Ask, RoomLadder, loop_codec
from terminals.sip_room_reoffer import answer_reoffer, reinvite_retrying, shape, take_ask
from terminals.speech import SpeechSynth
from terminals.teardowns import Teardowns

VIDEO_CODECS: dict[str, CodecOffer] = {
    "h264": CodecOffer("H264", {"profile-level-id": "640028", "packetization-mode": "1"}),
    "h264-cb": CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "1"}),
    "h263": CodecOffer("H263", {"CIF4": "1", "CIF": "1", "QCIF": "1"}),
    "h263p": CodecOffer("H263-1998", {"CIF4": "1", "CIF": "1", "QCIF": "1"}),
    "h261": CodecOffer("H261", {"CIF": "1", "QCIF": "1"}),
    "h264-m0": CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "0"}),
    "vp8": CodecOffer("VP8"),
    "vp9": CodecOffer("VP9"),
}
AUDIO_CODECS: dict[str, CodecOffer] = {
    "opus": CodecOffer("opus", {"useinbandfec": "1"}), "g722": CodecOffer("G722"),
    "pcmu": CodecOffer("PCMU"), "pcma": CodecOffer("PCMA"),
}
LOOP_FRAMES = 30


def codec_offers(names: Sequence[str], table: dict[str, CodecOffer]) -> tuple[CodecOffer, ...]:
    """The CodecOffers of configured names; ValueError naming an unknown one."""
    unknown = [name for name in names if name.lower() not in table]
    if unknown:
        raise ValueError(f"unknown codec {unknown[0]!r}: one of {', '.join(table)}")
    return tuple(table[name.lower()] for name in names)


class SceneTrack(MediaStreamTrack):
    """The camera scene's loop (the site's marker card) as av.VideoFrames at `fps`, for an
    RtpSender to encode in the negotiated codec and size."""

    kind = "video"

    def __init__(self, site_index: int, name: str, size: tuple[int, int], fps: int) -> None:
        super().__init__()
        self.scene = CameraScene(site_index, name, size[0], size[1], LOOP_FRAMES)
        self.fps = fps
        self.frames_sent = 0
        self._pictures: dict[int, av.VideoFrame] = {}
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self.frames_sent / self.fps
        # always through the loop, also when behind (a starved machine encodes slower than
        # real time): without a yield the sender's loop of recv and encode never lets the
        # room's other tasks (its SIP, its decoders, a test's checks) run again
        await asyncio.sleep(max(0.0, due - now))
        index = self.frames_sent % LOOP_FRAMES
        picture = self._pictures.get(index)
        if picture is None:
            picture = av.VideoFrame.from_ndarray(self.scene.frame(index), format="bgr24")
            picture = picture.reformat(format="yuv420p")
            self._pictures[index] = picture
        self.frames_sent += 1
        frame = av.VideoFrame.from_ndarray(picture.to_ndarray(), format="yuv420p")
        frame.pts, frame.time_base = self.frames_sent, fractions.Fraction(1, self.fps)
        return frame


class RoomCall:
    """One call's media: a session per settled m-line, our scene and voice sent, what
    arrives decoded into the room's receivers."""

    def __init__(self, room: SipRoom, sockets: dict[str, MediaSockets]) -> None:
        self.room = room
        content = sockets.pop("content", None)
        self.sockets = sockets
        self.content: RoomContentCall | None = (
            RoomContentCall(room.content, content, room.user)
            if content is not None and room.content is not None else None)
        self.sessions: list[RtpSession] = []
        self.senders: list[RtpSender] = []
        self.plans: list[MediaPlan] = []
        self.dialog: Dialog | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: list[asyncio.Future[None]] = []  # senders being stopped

    def start(self, settled: Settled) -> None:
        plans = settled.plans
        self.plans = plans
        if self.content is not None:
            self.content.start(settled.content, settled.client_floor)
        for kind in [kind for kind in self.sockets if kind not in {p.kind for p in plans}]:
            self.sockets.pop(kind).close()
        for plan in plans:
            self._run(plan)

    def _run(self, plan: MediaPlan) -> None:
        """One medium's session: what arrives decoded into the room's receivers; our scene
        or voice sent when the plan's direction lets us send."""
        room = self.room
        session = RtpSession(self.sockets[plan.kind], plan, cname=room.user)
        if plan.kind == "video":
            session.on_tmmbr = room.on_tmmbr
            if not room.decode_video:
                session.on_encoded_frame = lambda data, timestamp: False
        session.start()
        self.sessions.append(session)
        incoming = IncomingTrack(session)
        receiver = room.video if plan.kind == "video" else room.audio
        self._tasks.append(asyncio.create_task(receiver.consume(incoming)))
        self._set_sending(plan, plan.direction in SENDING)

    def _set_sending(self, plan: MediaPlan, send: bool) -> None:
        session = next((s for s in self.sessions if s.kind == plan.kind), None)
        sender = next((s for s in self.senders if s.session.kind == plan.kind), None)
        if not send or session is None:
            if sender is not None:
                self.senders.remove(sender)
                self._stopping.append(asyncio.ensure_future(sender.stop()))
            return
        if sender is not None:
            return
        room = self.room
        track: MediaStreamTrack
        codec = loop_codec(plan.codec.name, plan.codec.packetization_mode)
        if plan.kind == "video" and room.ladder is not None and codec is not None:
            loop_track = room.ladder.track(codec)  # pre-encoded loops, the ladder's sizes
            sender = RtpSender(session, loop_track)
            sender.on_keyframe_request = loop_track.request_keyframe
        elif plan.kind == "video":
            size = room.video_size_for(plan)
            track = SceneTrack(room.site_index, room.user, size, room.fps)
            sender = RtpSender(session, track, size, room.fps, room.video_bitrate)
        else:
            track = SpeechTrack(room.synth)
            sender = RtpSender(session, track)
        sender.start()
        self.senders.append(sender)

    async def apply(self, plans: list[MediaPlan]) -> None:
        """A re-INVITE's settled plans: a medium whose session can go on only starts or stops
        sending (hold, resume); another gets a new session on the same sockets; one no
        longer settled ends (rtp/reoffer.py)."""
        before = {plan.kind: plan for plan in self.plans}
        for plan in plans:
            old = before.get(plan.kind)
            if old is not None and same_session(old, plan):
                for running in self.sessions:
                    if running.kind == plan.kind:
                        running.set_direction(plan.direction)
                self._set_sending(plan, plan.direction in SENDING)
                continue
            self._set_sending(plan, False)
            await self._settle()
            session = next((s for s in self.sessions if s.kind == plan.kind), None)
            if session is not None:
                self.sessions.remove(session)
                await session.close(keep_sockets=True)
            if plan.kind == "video" and self.room.ladder is not None:
                self.room.ladder.new_session()  # its asks were for the session that ended
            self._run(plan)
            if session is not None:  # the MCU's old stream gives way to its new SSRC
                self.sessions[-1].replaced_source = session.remote_ssrc
        for kind in set(before) - {plan.kind for plan in plans}:
            self._set_sending(before[kind], False)
            await self._settle()
            session = next((s for s in self.sessions if s.kind == kind), None)
            if session is not None:
                self.sessions.remove(session)
                await session.close()
            sockets = self.sockets.pop(kind, None)
            if sockets is not None:
                sockets.close()
        self.plans = plans

    async def _settle(self) -> None:
        stopping, self._stopping = self._stopping, []
        await asyncio.gather(*stopping, return_exceptions=True)

    async def close(self) -> None:
        if self.content is not None:
            await self.content.close()
        for sender in self.senders:
            await sender.stop()
        await self._settle()
        await asyncio.gather(*(s.close() for s in self.sessions), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        started = {id(s.sockets) for s in self.sessions}
        for sockets in self.sockets.values():
            if id(sockets) not in started:
                sockets.close()


class SipRoom:
    def __init__(self, user: str, site_index: int, *, host: str = "127.0.0.1",
                 video_codecs: Sequence[str] = ("h264",),
                 audio_codecs: Sequence[str] = ("g722", "pcmu"),
                 encryption: MediaEncryptType | int = MediaEncryptType.AUTO,
                 video_size: tuple[int, int] = (352, 288), fps: int = 15,
                 video_bitrate: int = 400_000, ring_delay: float = 0.1,
                 refuse: int | None = None, port: int = 0,
                 tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None,
                 content: ContentKind | None = None, receive_content: bool = False,
                 content_size: tuple[int, int] = (1280, 720),
                 content_codecs: Sequence[str] = ("h264",),
                 content_page_seconds: float = 5.0, ladder: bool = False,
                 asks: Sequence[str] | None = None, honour_asks: bool = True,
                 decode_video: bool = True) -> None:
        """refuse: answer the MCU's INVITEs with this status (486 busy, 603 decline...);
        port: its SIP UDP port (0: an ephemeral one); tls: (server, client) contexts to
        also listen on TLS (an ephemeral port) and call `sips:` URIs (the client one
        verifies the MCU's certificate); content: its content input's first document (None:
        no content input); receive_content: it shows received content on a second screen.
        With either, its calls have a content m-line and a BFCP m-line. ladder: its video is
        pre-encoded loops (H.264 mode 1 or VP8 calls) at video_size/fps and the sizes it
        is asked for; asks: how it may be asked, a subset of "imageattr" (re-INVITE) and
        "tmmbr" (default: both with a ladder, none without, as before issue 17: its SDP
        states neither); honour_asks=False: asks are noted, its own format is sent;
        decode_video=False: the video received is counted, not decoded (a room whose
        pictures no test reads, on a loaded machine)."""
        self.user = user
        self.site_index = site_index
        self.host = host
        self.video_offers = codec_offers(video_codecs, VIDEO_CODECS)
        self.audio_offers = codec_offers(audio_codecs, AUDIO_CODECS)
        # its SRTP setting, with mediaEncryptType's meaning (0 auto, 1 SRTP only, 2 plain
        # only) and the one rule for it, the MCU's too (rtp/encryption_policy.py)
        self.encryption = MediaEncryptType(int(encryption))
        self.policy = SdesRule(self.encryption)
        self.video_size = video_size
        self.fps = fps
        self.video_bitrate = video_bitrate
        self.ring_delay = ring_delay
        self.refuse = refuse
        self.video = VideoReceiver(SendLog(), analyse_every=1 << 30)
        self.audio = AudioReceiver()
        self.synth = SpeechSynth(site_index)
        self.content: RoomContent | None = (
            RoomContent(site_index, content, receive_content, content_size,
                        content_page_seconds, content_codecs)
            if content is not None or receive_content else None)
        kinds = frozenset(asks) if asks is not None else (ASK_KINDS if ladder else frozenset())
        if not kinds <= ASK_KINDS:
            raise ValueError(f"asks: a subset of {sorted(ASK_KINDS)}, not {sorted(kinds)}")
        self.asks = kinds
        self.ladder: RoomLadder | None = (
            RoomLadder(site_index, user, VideoFormat(*video_size, fps, video_bitrate),
                       honour_asks) if ladder else None)
        self.reinvites_received = 0  # re-INVITEs of the MCU (its asks among them)
        self.glare_next = False  # meet the next one with our own re-INVITE (glare)
        self.glares_answered = 0
        self.own_reinvites: list[str] = []  # the final status of each of its own attempts
        self.decode_video = decode_video
        self.call: RoomCall | None = None
        self.calls_answered = 0
        self.invites_cancelled = 0  # INVITEs the caller CANCELled while we were ringing
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = Teardowns()  # calls ended, still closing (terminals/teardowns.py)
        self.ua = SipUserAgent(
            UaSettings(user=user, transports=TransportSettings(
                host, udp_port=port, tcp_port=None, tls_port=0 if tls else None,
                server_ssl=tls[0] if tls else None, client_ssl=tls[1] if tls else None)),
            on_invite=self._on_invite,
            on_reinvite=lambda dialog, body: answer_reoffer(self, dialog, body))

    @property
    def uri(self) -> str:
        """Where it is called (its booked URI)."""
        return f"sip:{self.user}@{self.host}:{self.ua.transports.ports['UDP']}"

    async def start(self) -> None:
        await self.ua.start()

    async def close(self) -> None:
        await self.hang_up()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # a call the MCU ended just before is still closing: its floor connection's Goodbye
        # and close, its media; cancelling the task that follows its dialog does not cut
        # that short (see _end)
        await self._closing.wait()
        await self.ua.close()

    def video_size_for(self, plan: MediaPlan) -> tuple[int, int]:
        """The size it sends: its configured size, or CIF for the ITU codecs' fixed sizes."""
        if plan.codec.name.upper() in ("H261", "H263", "H263-1998"):
            return (352, 288)
        return self.video_size

    async def _sockets(self) -> dict[str, MediaSockets]:
        sockets: dict[str, MediaSockets] = {}
        for kind, codecs in (("audio", self.audio_offers), ("video", self.video_offers)):
            if codecs:
                sockets[kind] = await MediaSockets.bind(self.host)
        if self.content is not None:
            sockets["content"] = await MediaSockets.bind(self.host)
        return sockets

    def _content_options(self) -> dict[str, Any]:
        content = self.content
        if content is None:
            return {"content_video": ()}
        return {"content_video": content.offers, "content_direction": content.direction}

    @staticmethod
    def _ports(sockets: dict[str, MediaSockets]) -> tuple[dict[str, int], int | None]:
        main = {kind: each.port for kind, each in sockets.items() if kind != "content"}
        content = sockets.get("content")
        return main, content.port if content is not None else None

    async def _on_invite(self, request: Request) -> bytes | SipReject:
        try:
            await asyncio.sleep(self.ring_delay)
        except asyncio.CancelledError:  # the UA got a CANCEL: it answers 487
            self.invites_cancelled += 1
            raise
        if self.refuse is not None:
            return SipReject(self.refuse)
        if self.call is not None:
            return SipReject(486, "Busy Here")
        sockets = await self._sockets()
        ports, content_port = self._ports(sockets)
        try:
            reply, settled = answer_call(
                sdp.parse(request.body), self.host, ports, content_port, self.policy,
                video=self.video_offers, audio=self.audio_offers,
                client=self.content is not None, **self._content_options())
            shape(self, reply, offer=False, peer_states=understands_imageattr(request.body))
        except Exception:
            for each in sockets.values():
                each.close()
            return SipReject(488, "Not Acceptable Here")
        call = RoomCall(self, sockets)
        call.start(settled)
        self.call = call
        self.calls_answered += 1
        self._spawn(self._follow(call, request))
        return sdp.serialize(reply).encode()

    def on_tmmbr(self, bitrate: int) -> bool:
        """A TMMBR for its video: the largest ladder size within the limit, followed when it
        takes TMMBR asks and honours them (then TMMBN is sent back)."""
        if self.ladder is None or "tmmbr" not in self.asks:
            return False
        size = size_for_bitrate(bitrate, ROOM_LADDER)
        width, height, fps = size if size is not None else (*ROOM_LADDER[-1], 15)
        self.ladder.take(Ask("tmmbr", width, height, fps))
        return self.ladder.honour

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        self._spawn(work)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, call: RoomCall, request: Request) -> None:
        """The dialog of an answered INVITE, until it ends (BYE): then the media stops."""
        for _ in range(500):
            dialog = next((d for d in self.ua.dialogs.values()
                           if d.call_id == request.call_id), None)
            if dialog is not None:
                call.dialog = dialog
                await dialog.terminated.wait()
                break
            await asyncio.sleep(0.02)
        await self._end(call)

    async def dial(self, uri: str) -> Dialog:
        """Call `uri` (a conference: `sip:<code>[*<password>]@<mcu>`); raises SipCallFailed."""
        sockets = await self._sockets()
        ports, content_port = self._ports(sockets)
        our_offer = self.offer_of(ports, content_port)
        try:
            dialog = await self.ua.invite(uri, sdp.serialize(our_offer).encode())
            settled = accept_call(our_offer, sdp.parse(dialog.remote_sdp), self.policy)
        except BaseException:
            for each in sockets.values():
                each.close()
            raise
        call = RoomCall(self, sockets)
        call.dialog = dialog
        call.start(settled)
        self.call = call
        self._spawn(self._follow_dialog(call, dialog))
        return dialog

    async def _follow_dialog(self, call: RoomCall, dialog: Dialog) -> None:
        await dialog.terminated.wait()
        await self._end(call)

    async def _end(self, call: RoomCall) -> None:
        """The call is over (the room is idle at once); its close (the floor connection's
        Goodbye and close, the media) runs as a task of its own that close() waits for: the
        room's close() cancels the task following the dialog, and a close cut short would
        leave the floor connection open and its reader running."""
        if self.call is call:
            self.call = None
        await self._closing.run(call.close())

    def offer_of(self, ports: dict[str, int], content_port: int | None) -> sdp.SessionDescription:
        """The room's offer: audio, video and, with content, the content m-line and the
        BFCP m-line as floor control client."""
        ours = offer_call(self.host, ports, content_port, self.policy,
                          video=self.video_offers, audio=self.audio_offers,
                          client_proto="TCP/BFCP" if self.content is not None else None,
                          **self._content_options())
        shape(self, ours, offer=True)
        return ours

    async def reinvite(self, *, refresh: bool = False, direction: str = "sendrecv",
                       video_codecs: Sequence[str] | None = None,
                       audio_codecs: Sequence[str] | None = None) -> bytes:
        """Offer again in the current call (a re-INVITE) and apply the answer; the answer's
        bytes. `refresh`: the last SDP of ours again, same o= version (a session refresh);
        else a new offer (version incremented, keys kept) with audio and video in `direction`
        (sendonly or inactive: hold; sendrecv: resume) and the given codec lists (default:
        the room's); the content and BFCP m-lines, if any, are offered again unchanged. A refusal
        raises SipCallFailed (488...) and leaves the call as it was."""
        call = self.call
        if call is None or call.dialog is None:
            raise RuntimeError("no call to re-INVITE in")
        dialog = call.dialog
        if refresh:
            return await reinvite_retrying(dialog, dialog.local_sdp, self.own_reinvites)
        video = codec_offers(video_codecs, VIDEO_CODECS) if video_codecs is not None \
            else self.video_offers
        audio = codec_offers(audio_codecs, AUDIO_CODECS) if audio_codecs is not None \
            else self.audio_offers
        fresh = offer(self.host, {k: s.port for k, s in call.sockets.items()}, self.policy,
                      video=video, audio=audio)
        for media in fresh.media:
            media.direction = direction
        previous = sdp.parse(dialog.local_sdp.decode())
        # the content and BFCP m-lines offered again as they were (rtp/content_reoffer.py):
        # the MCU answers 488 to a re-offer changing them, so the content call goes on as is
        new_offer = keep_content_lines(previous, next_offer(main_part(previous), fresh))
        shape(self, new_offer, offer=True)
        reply = await reinvite_retrying(dialog, sdp.serialize(new_offer).encode(),
                                         self.own_reinvites)
        answered = sdp.parse(reply.decode())
        settled = accept_call(new_offer, answered, self.policy)
        await call.apply(settled.plans)
        take_ask(self, call, answered)  # the MCU's answer keeps asking what it asked
        return reply

    async def register(self, registrar: str, aor: str, password: str | None = None) -> None:
        """Register our contact for `aor` (`sip:<number>@<registrar host>`) at `registrar`,
        answering its digest challenge with `password` when given."""
        await self.ua.register(registrar, aor, password=password)

    async def hang_up(self) -> None:
        call = self.call
        if call is not None and call.dialog is not None:
            await call.dialog.bye()
        if call is not None:
            self.call = None
            with contextlib.suppress(Exception):
                await call.close()

    async def send_digits(self, digits: str) -> None:
        """Key `digits` as RFC 4733 telephone events on the call's audio stream."""
        call = self.call
        session = next((s for s in call.sessions if s.kind == "audio"), None) if call else None
        if session is None:
            raise RuntimeError("no call with an audio stream")
        await session.send_digits(digits)

    # content and its floor
    @property
    def content_call(self) -> RoomContentCall | None:
        call = self.call
        return call.content if call is not None else None

    @property
    def holds_floor(self) -> bool:
        content = self.content_call
        return content is not None and content.holds_floor

    @property
    def sending_content(self) -> bool:
        content = self.content_call
        return content is not None and content.sending

    @property
    def floor_connected(self) -> bool:
        content = self.content_call
        return content is not None and content.floor is not None and content.floor.connected

    async def request_floor(self) -> RequestStatus:
        """BFCP FloorRequest over the call's floor connection: GRANTED or DENIED."""
        content = self.content_call
        if content is None:
            raise ConnectionClosed("no call with a content floor")
        return await content.request_floor()

    async def release_floor(self) -> RequestStatus | None:
        content = self.content_call
        return await content.release_floor() if content is not None else None

    async def read_content(self) -> ContentStatus:
        """The content marker of the latest content picture received."""
        if self.content is None:
            raise RuntimeError("this room has no content stream")
        return await self.content.read()

    # what it sees and hears
    def set_panes(self, rects: list[Rect] | None) -> None:
        self.video.set_panes(rects)

    async def read_panes(self) -> tuple[PaneStatus, ...]:
        return await self.video.analyse_latest()

    def heard(self, talkers: Sequence[int]) -> dict[int, float]:
        return self.audio.heard(talkers)

    @property
    def negotiated(self) -> dict[str, str]:
        """kind -> codec name of the current call."""
        call = self.call
        if call is None:
            return {}
        found = {plan.kind: plan.codec.name for plan in call.plans}
        if call.content is not None and call.content.plan is not None:
            found["content"] = call.content.plan.codec.name
        return found

    def stats_line(self) -> str:
        """One line of what it does now (`mcu-sim terminals --sip`)."""
        video = self.video
        frame = video.last_frame
        size = f"{frame.width}x{frame.height}" if frame is not None else "-"
        panes = ",".join(f"#{p.site_index}" if p.site_index is not None else "-"
                         for p in video.pane_statuses())
        codecs = ",".join(f"{kind}={name}" for kind, name in sorted(self.negotiated.items()))
        line = (f"{self.uri} {'in-call' if self.call else 'idle':<7} {codecs or '-'} "
                f"{'srtp' if self.encrypted else 'rtp'} decoded={video.frames_decoded} "
                f"{size} panes=[{panes}]")
        if self.content is None:
            return line
        status = self.content.receiver.status()
        shown = (f"#{status.site_index}/{status.kind.name.lower()}/p{status.page}"
                 if status.site_index is not None and status.kind is not None else "-")
        return (f"{line} floor={'held' if self.holds_floor else '-'} "
                f"sending={'yes' if self.sending_content else 'no'} "
                f"content_decoded={self.content.receiver.frames_decoded} content=[{shown}]")

    @property
    def encrypted(self) -> bool:
        call = self.call
        return bool(call and call.plans and all(plan.encrypted for plan in call.plans))
