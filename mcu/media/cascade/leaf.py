"""A leaf of a cascaded conference: an engine with some of its sites, linked to the root.

`CascadeUplink.connect` opens the control connection, offers the link's RTP (`hello`) and,
on the root's `welcome`, the root joins this engine's conference media as one site
(link_site.py). While linked, the conference media plays the leaf's role:

- the link's site watches the tile picture: this engine's own sites side by side in the
  smallest equal grid (tiles.py), and the root is told which site is in which pane (`tiles`)
  whenever that changes;
- every local site watches the root's picture (the link's video) full screen: the layout,
  the voice switching and the speaker highlight are the root's, so every site of the
  conference sees the same picture; a local site's own choices (video source, its own CP,
  a broadcast site) are not composed here;
- audio: the N-1 mix as usual, the link's site being one input (the root's sites) and
  receiving the mix of this engine's sites;
- levels: this engine's sites' levels go to the root (`levels`), which reports them with
  its own; none are reported to the runtime from here. The root's `speaker` is followed.

When the link ends (the root said bye, the connection dropped, the conference ended), the
role goes: the local sites watch the conference's pictures composed here again.
"""

from __future__ import annotations

import asyncio
import logging
from ssl import SSLError
from typing import Any

from mcu.layouts import LayoutMode
from mcu.media.cascade.channel import ControlChannel
from mcu.media.cascade.link_site import LinkSite, link_uri
from mcu.media.cascade.protocol import (
    VERSION,
    Hello,
    Levels,
    ProtocolError,
    SiteLevel,
    Speaker,
    Tiles,
    Welcome,
)
from mcu.media.cascade.tiles import MAX_TILES, tile_mode
from mcu.media.conference_media import ConferenceMedia, PictureSettings
from mcu.media.engine import MediaEngine
from mcu.media.pictures import PictureKey, PictureKind
from mcu.model import MediaEncryptType, VideoFormat
from rtp.negotiation import NegotiationError
from rtp.sdp import SdpError

log = logging.getLogger(__name__)


ROOT_URI = link_uri("root")  # the root, as a site of a leaf's conference (one root each)


class CascadeError(Exception):
    """The link could not be made (the reason the root gave, or ours)."""


class CascadeTlsError(CascadeError):
    """The control connection's TLS handshake failed (a certificate the other side's CA
    does not vouch for, a name it does not match): trying again will not help."""


class LeafRole:
    """The conference media's role (mcu/media/media_role.py) while linked to the root."""

    def __init__(self, conference: ConferenceMedia, channel: ControlChannel, uri: str) -> None:
        self.conference = conference
        self.channel = channel
        self.uri = uri  # the link's site: the root
        self.tile_picture = PictureKey(PictureKind.CP, uri)
        self.mode: LayoutMode = tile_mode(0)
        self.tiles: tuple[str, ...] = ()
        self._told: tuple[LayoutMode, tuple[str, ...]] | None = None
        self.speaker: str | None = None  # the root's last `speaker`

    def local_sites(self) -> list[str]:
        """This engine's joined sites in join order, the first MAX_TILES."""
        conference = self.conference
        return [uri for uri in conference.joined
                if uri in conference.sites and uri != self.uri][:MAX_TILES]

    def picture_for(self, viewer: str) -> PictureKey | None:
        if viewer == self.uri:
            return self.tile_picture
        if viewer in self.conference.sites:
            return PictureKey(PictureKind.SITE, self.uri)
        return None

    def picture_settings(self, picture: PictureKey) -> PictureSettings | None:
        if picture != self.tile_picture:
            return None
        return PictureSettings(self.mode, self.tiles, None, None)

    def add_sources(self, sources: dict[str, Any]) -> None:
        """Once a tick, before its pictures are composed: the tiles follow the local
        sites; the root hears of a change at once."""
        sites = tuple(self.local_sites())
        self.mode, self.tiles = tile_mode(len(sites)), sites
        if self._told != (self.mode, sites):
            self._told = (self.mode, sites)
            self.channel.send(Tiles(self.mode.value, list(sites)))

    def levels(self, levels: dict[str, int]) -> dict[str, int]:
        """The local sites' levels go to the root; nothing is reported from here."""
        local = set(self.local_sites())
        self.channel.send(Levels([SiteLevel(uri, max(0, min(100, int(level))))
                                  for uri, level in levels.items() if uri in local]))
        return {}

    def handle(self, message: Any) -> None:
        if isinstance(message, Speaker):
            self.speaker = message.uri
            if message.uri is None or message.uri in self.conference.joined:
                self.conference.speaking = message.uri
        else:
            raise ProtocolError(f"a leaf does not take {type(message).__name__.lower()}")

    def content_link(self, holder: str) -> str | None:
        """A site this engine has no call of is reached through the root."""
        return self.uri if holder not in self.conference.sites else None

    def closed(self) -> None:
        self.channel.abort()


class CascadeUplink:
    """This engine's link to the root of one conference."""

    def __init__(self, conference: ConferenceMedia, channel: ControlChannel, site: LinkSite,
                 role: LeafRole, root: str) -> None:
        self.conference = conference
        self.channel = channel
        self.site = site
        self.role = role
        self.root = root  # the root's name
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, engine: MediaEngine, conf_id: str, host: str, port: int, *,
                      name: str, media_host: str = "127.0.0.1", ssl: Any = None,
                      encryption: MediaEncryptType = MediaEncryptType.FORCE,
                      link_format: VideoFormat | None = None) -> CascadeUplink:
        """Link `engine`'s media of `conf_id` to the root listening on host:port, as the
        leaf `name`; the tile picture goes up at `link_format` (None: the engine's default
        format). CascadeError with the reason when it cannot be."""
        conference = engine.conferences.get(conf_id)
        if conference is None:
            raise CascadeError(f"conference {conf_id} has no media on this engine")
        if conference.role is not None:
            raise CascadeError(f"conference {conf_id} is in a cascade already")
        try:
            channel = await ControlChannel.open(host, port, ssl)
        except SSLError as error:
            raise CascadeTlsError(f"TLS with the root at {host}:{port}: {error}") from None
        except OSError as error:
            raise CascadeError(f"no root at {host}:{port}: {error}") from None
        site = await LinkSite.bind(conference, ROOT_URI, media_host, encryption, link_format)
        try:
            channel.send(Hello(VERSION, conf_id, name, site.offer()))
            welcome: Welcome = await channel.first(Welcome)
            if engine.conferences.get(conf_id) is not conference or conference.role is not None:
                raise ProtocolError(f"conference {conf_id} ended or was linked meanwhile")
            role = LeafRole(conference, channel, site.uri)
            conference.role = role
            site.accept(welcome.sdp)
        except (ProtocolError, SdpError, NegotiationError, ValueError, OSError) as error:
            if conference.role is not None and isinstance(conference.role, LeafRole) \
                    and conference.role.channel is channel:
                conference.role = None
            await site.close()
            await channel.close(str(error))
            raise CascadeError(str(error)) from None
        uplink = cls(conference, channel, site, role, welcome.root)
        uplink._task = asyncio.create_task(uplink._follow(), name=f"cascade uplink {conf_id}")
        log.info("conference %s: linked to root %s at %s:%d", conf_id, welcome.root, host, port)
        return uplink

    @property
    def linked(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _follow(self) -> None:
        try:
            await self.channel.follow(self.role.handle)
        finally:
            if self.conference.role is self.role:
                self.conference.role = None
            await self.site.close()
            await self.channel.close()
            log.info("conference %s: unlinked from root %s", self.conference.conf_id, self.root)

    async def close(self) -> None:
        await self.channel.close("leaf closed")
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
