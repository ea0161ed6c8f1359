"""The root of a cascaded conference: the engine that holds its layout and voice switching.

`CascadeListener` takes the leaves' links (a TCP control connection each, protocol.py): a
leaf's `hello` names the conference and offers its RTP; the root answers (`welcome`) and the
leaf becomes one more site of the root's conference media (link_site.py). From then on:

- video up: the leaf's tile picture (tiles.py), cut back into one picture per leaf site
  (`tiles` says which site is in which pane), shown in those sites' panes like cameras;
- video down: the conference picture, which the link's site watches like any site without
  a picture of its own, at the link's format; the leaf's sites are shown it as it is;
- audio: the leaf's mix of its own sites is one input of the root's N-1 mix, and the root
  sends the leaf the mix of everything but the leaf;
- levels: the leaf's per-site levels (`levels`) replace the link's one level in what the
  root reports to the runtime, so a leaf site can be the speaker; the speaker goes back
  down (`speaker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from mcu.layouts import layout_mode
from mcu.media.cascade.channel import ControlChannel
from mcu.media.cascade.link_site import LinkSite, link_uri
from mcu.media.cascade.protocol import (
    MAX_LINE_BYTES,
    Error,
    Hello,
    Levels,
    ProtocolError,
    Speaker,
    Tiles,
    Welcome,
)
from mcu.media.cascade.tiles import TileCutter, is_tile_mode
from mcu.media.conference_media import ConferenceMedia, PictureSettings
from mcu.media.engine import MediaEngine
from mcu.media.pictures import PictureKey
from mcu.model import MediaEncryptType, VideoFormat
from rtp.negotiation import NegotiationError
from rtp.sdp import SdpError

log = logging.getLogger(__name__)


class RootLink:
    """One leaf, as the root follows it."""

    def __init__(self, channel: ControlChannel, site: LinkSite) -> None:
        self.channel = channel
        self.site = site
        self.cutter = TileCutter()
        self.levels: dict[str, int] = {}
        self.speaker_told: tuple[str | None] | None = None  # (the speaker last sent,)

    @property
    def uri(self) -> str:
        return self.site.uri

    def handle(self, message: Any) -> None:
        if isinstance(message, Tiles):
            if not is_tile_mode(message.mode):
                raise ProtocolError(f"tiles.mode {message.mode} is not a tile grid")
            mode = layout_mode(message.mode)
            if len(message.sites) > mode.pane_count:
                raise ProtocolError(f"tiles.sites: {len(message.sites)} sites in "
                                    f"{mode.pane_count} panes")
            self.cutter.arrange(mode, message.sites)
        elif isinstance(message, Levels):
            self.levels = {entry.uri: entry.level for entry in message.levels}
        else:
            raise ProtocolError(f"a root does not take {type(message).__name__.lower()}")


class RootRole:
    """The conference media's role (mcu/media/media_role.py) while leaves are linked."""

    def __init__(self, conference: ConferenceMedia) -> None:
        self.conference = conference
        self.links: dict[str, RootLink] = {}

    def picture_for(self, viewer: str) -> PictureKey | None:
        return None

    def picture_settings(self, picture: PictureKey) -> PictureSettings | None:
        return None

    def add_sources(self, sources: dict[str, Any]) -> None:
        """Each leaf site's pane of its link's latest tile picture, for the leaf sites the
        conference has joined (a site whose local video is hidden stays on the placeholder);
        the link's own picture is no source of any pane."""
        conference = self.conference
        for link in self.links.values():
            tiles = link.cutter.pictures(sources.pop(link.uri, None))
            for uri, picture in tiles.items():
                control = conference.controls.get(uri)
                if uri in sources and uri not in conference.sites and (
                        control is None or control.local_video_open):
                    sources[uri] = picture
        speaker = conference.speaking
        for link in self.links.values():
            if link.speaker_told != (speaker,):
                link.speaker_told = (speaker,)
                link.channel.send(Speaker(speaker))

    def levels(self, levels: dict[str, int]) -> dict[str, int]:
        """The leaves' sites' levels in place of their links' (only joined sites the root
        has no call of)."""
        conference = self.conference
        for link in self.links.values():
            levels.pop(link.uri, None)
            for uri, level in link.levels.items():
                if uri in conference.joined and uri not in conference.sites:
                    levels[uri] = level
        return levels

    def content_link(self, holder: str) -> str | None:
        """The link of the leaf that holds the site (its tiles list it)."""
        return next((link.uri for link in self.links.values()
                     if holder in link.cutter.sites), None)

    def closed(self) -> None:
        for link in self.links.values():
            link.channel.abort()


class CascadeListener:
    """Takes cascade links for the conferences of `engine`, on host:port (0: a free port).
    `media_host` is the address of the links' RTP; `ssl` an SSLContext for the control
    connections (then the SDES keys of the SRTP travel under TLS). `link_format` is the
    format of the conference picture sent down: the leaves' sites see it full screen, so it
    should have their pictures' shape (None: the engine's default format); `formats`, when
    given, chooses a conference's own link format (its None: `link_format`)."""

    def __init__(self, engine: MediaEngine, *, name: str = "root", host: str = "127.0.0.1",
                 port: int = 0, media_host: str | None = None, ssl: Any = None,
                 encryption: MediaEncryptType = MediaEncryptType.FORCE,
                 link_format: VideoFormat | None = None,
                 formats: Callable[[str], VideoFormat | None] | None = None) -> None:
        self.engine = engine
        self.link_format = link_format  # the picture sent down (None: the default format)
        self.formats = formats  # conf_id -> its links' format, when it has one of its own
        self.name = name
        self.host, self.port = host, port
        self.media_host = media_host or host
        self.ssl = ssl
        self.encryption = encryption
        self.refused: list[str] = []  # why links were refused, newest last
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, self.host, self.port,
                                                  ssl=self.ssl, limit=MAX_LINE_BYTES + 1)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.port = port
        return host, port

    def _format(self, conf_id: str) -> VideoFormat | None:
        found = self.formats(conf_id) if self.formats is not None else None
        return found if found is not None else self.link_format

    @property
    def connections(self) -> int:
        """Control connections open now (linked or in their handshake)."""
        return len(self._connections)

    def links(self, conf_id: str) -> dict[str, RootLink]:
        conference = self.engine.conferences.get(conf_id)
        role = conference.role if conference is not None else None
        return dict(role.links) if isinstance(role, RootRole) else {}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conference in self.engine.conferences.values():
            if isinstance(conference.role, RootRole):
                conference.role.closed()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    @staticmethod
    def _role_for(conference: ConferenceMedia, uri: str, hello: Hello) -> RootRole:
        """The conference's root role (a new one when it has none yet, not set here), or
        ProtocolError: the engine is a leaf of it, or a leaf of that name is linked."""
        role = conference.role
        if role is None:
            return RootRole(conference)
        if not isinstance(role, RootRole):
            raise ProtocolError(f"this engine is a leaf of conference {hello.conf_id}")
        if uri in role.links:
            raise ProtocolError(f"a leaf named {hello.leaf} is linked already")
        return role

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        channel = ControlChannel(reader, writer)
        try:
            await self._link(channel)
        except ProtocolError as error:
            self.refused.append(str(error))
            channel.send(Error(str(error)))
        except Exception:
            log.exception("cascade link failed")
            channel.send(Error("the root failed"))
        finally:
            await channel.close()
            self._connections.discard(task)

    async def _link(self, channel: ControlChannel) -> None:
        hello: Hello = await channel.first(Hello)
        conference = self.engine.conferences.get(hello.conf_id)
        if conference is None:
            raise ProtocolError(f"conference {hello.conf_id} has no media on this engine")
        uri = link_uri(hello.leaf)
        self._role_for(conference, uri, hello)  # refused before any socket is bound
        site = await LinkSite.bind(conference, uri, self.media_host, self.encryption,
                                   self._format(hello.conf_id))
        try:  # from here to the role set, no await: no tick sees the link without its role
            if self.engine.conferences.get(hello.conf_id) is not conference:
                raise ProtocolError(f"conference {hello.conf_id} ended")
            role = self._role_for(conference, uri, hello)
            answer = site.answer(hello.sdp)
        except (ProtocolError, SdpError, NegotiationError, ValueError, OSError) as error:
            await site.close()
            reason = str(error) if isinstance(error, ProtocolError) else f"hello.sdp: {error}"
            raise ProtocolError(reason) from None
        conference.role = role  # the conference's root role from the answer on, not before
        link = RootLink(channel, site)
        role.links[uri] = link
        channel.send(Welcome(self.name, uri, answer))
        log.info("conference %s: leaf %s linked", hello.conf_id, hello.leaf)
        try:
            await channel.follow(link.handle)
        finally:
            if role.links.get(uri) is link:
                del role.links[uri]
            if not role.links and conference.role is role:
                conference.role = None
            await site.close()
            log.info("conference %s: leaf %s unlinked", hello.conf_id, hello.leaf)

