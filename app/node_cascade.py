"""A media node's part in conferences split over nodes (docs/cascade.md "On media nodes").

Every node runs a `CascadeListener` (mcu/media/cascade/root.py) on its media address and
announces its port in its registry record (`cascade_port`): the gateway makes the node with
the most room a split conference's root, and tells each leaf node "host:port" of the root's
listener in the conference's `start`. A leaf opens its `CascadeUplink` as soon as the
conference runs here; the root may not have the conference's media yet (its `start` travels
on another stream), so a refused or failed link is tried again every RETRY_S until it is
up, the conference ends here, or LINK_WITHIN_S passes (then the leaf's sites see only each
other; the failure is logged).

A site of the conference held by another node joins or leaves (`peer_site`): this node's
media counts it joined (a SiteCallStateChanged handed to the media engine only, not to the
node's runtime, which has no call of it), so the root composes its pane from the link's
tile picture and reports its levels with its own sites'.

With [node] cascade_tls the control connections are under TLS, each end verifying the
other's certificate against [node] cascade_ca (app/node_tls.py): an uplink whose handshake
fails (a certificate refused) is logged as an error and not tried again; the leaf's sites
then see only each other.

The links of a conference are at the format all its booked sites share (`link_format`):
every site then sees the root's picture at its own shape, the same positions everywhere.
"""

from __future__ import annotations

import asyncio
import logging

from app.node_tls import CascadeTls
from mcu.errors import DomainError
from mcu.events import SiteCallStateChanged
from mcu.media.cascade.leaf import CascadeError, CascadeTlsError, CascadeUplink
from mcu.media.cascade.root import CascadeListener
from mcu.media.engine import MediaEngine
from mcu.model import SiteCallState, VideoFormat

log = logging.getLogger("app.node")

RETRY_S = 0.5
LINK_WITHIN_S = 60.0


class NodeCascades:
    def __init__(self, engine: MediaEngine, name: str, address: str,
                 tls: CascadeTls | None = None) -> None:
        """tls: the control connections under TLS, both ends verified (app/node_tls.py)."""
        self.engine = engine
        self.name = name
        self.address = address
        self.tls = tls
        self.listener = CascadeListener(engine, name=name, host=address, media_host=address,
                                        formats=self.link_format,
                                        ssl=tls.server if tls is not None else None)
        self.port = 0  # the listener's, once started
        self.uplinks: dict[str, CascadeUplink] = {}
        self._linking: dict[str, asyncio.Task[None]] = {}

    async def start(self) -> None:
        _, self.port = await self.listener.start()

    def link(self, conf_id: str, root: str) -> None:
        """Link this node's media of the conference to the root at "host:port"."""
        if conf_id in self._linking or conf_id in self.uplinks:
            return
        host, _, port = root.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65_536:
            raise ValueError(f"start.cascade_root {root!r} is not host:port")
        task = asyncio.get_running_loop().create_task(
            self._connect(conf_id, host, int(port)), name=f"cascade uplink {conf_id}")
        self._linking[conf_id] = task
        task.add_done_callback(lambda _: self._linking.pop(conf_id, None))

    async def _connect(self, conf_id: str, host: str, port: int) -> None:
        deadline = asyncio.get_running_loop().time() + LINK_WITHIN_S
        while conf_id in self.engine.conferences:
            try:
                self.uplinks[conf_id] = await CascadeUplink.connect(
                    self.engine, conf_id, host, port, name=self.name, media_host=self.address,
                    link_format=self.link_format(conf_id),
                    ssl=self.tls.client if self.tls is not None else None)
                log.info("conference %s: linked to its root at %s:%d", conf_id, host, port)
                return
            except CascadeTlsError as error:  # a certificate refused: not tried again
                log.error("conference %s: cascade link to %s:%d refused: %s", conf_id, host,
                          port, error)
                return
            except CascadeError as error:
                if asyncio.get_running_loop().time() > deadline:
                    log.error("conference %s: no cascade link to %s:%d: %s", conf_id, host,
                              port, error)
                    return
                log.info("conference %s: cascade link not up yet: %s", conf_id, error)
            await asyncio.sleep(RETRY_S)

    def link_format(self, conf_id: str) -> VideoFormat | None:
        """The links' format of the conference: the format all its booked sites share (the
        picture each side composes then has their sites' shape); None (the engine's default
        format) when they were booked at different ones or with none."""
        try:
            conference = self.engine.runtime.scheduler.get(conf_id)
        except DomainError:
            return None
        formats = {site.video_format for occurrence in conference.occurrences
                   for site in occurrence.sites}
        if len(formats) != 1:
            return None
        (found,) = formats
        return None if found is VideoFormat.AUTO else found

    def peer(self, conf_id: str, uri: str, joined: bool) -> None:
        state = SiteCallState.IN_CONFERENCE if joined else SiteCallState.NOT_JOINED
        self.engine.on_event(SiteCallStateChanged(conf_id, uri, state))

    def end(self, conf_id: str) -> CascadeUplink | None:
        """The conference ended here: no link is tried any more; its uplink (to close), if
        it had one. At once, so a `start` right after an `end` links again."""
        task = self._linking.pop(conf_id, None)
        if task is not None:
            task.cancel()
        return self.uplinks.pop(conf_id, None)

    async def close(self) -> None:
        for conf_id in list({*self._linking, *self.uplinks}):
            uplink = self.end(conf_id)
            if uplink is not None:
                await uplink.close()
        await self.listener.close()
