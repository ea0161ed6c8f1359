"""A media node's voice switching, which counts the sites other nodes hold.

A conference split over nodes (docs/cascade.md "On media nodes") runs on each node with only
the sites that node calls: the node's runtime has no `LiveSite` of a site held elsewhere.
Yet the root's media reports those sites' levels (the leaves send them up the cascade link,
mcu/media/cascade/root.py), and the root's voice switching is the conference's. So the node
keeps `PeerSites`: per conference, the sites that joined on another node (`peer_site`
commands) and whether each is muted (the gateway's SiteMuted events, forwarded to every node
of the conference). `NodeVoiceSwitching` counts a peer site like a joined site it has no
call of: its level is kept, it can be the speaker (SpeakerChanged, which the node reports
and its media shows in the main pane and tells down the links), unless muted. A peer site
that leaves stops counting at once, and stops being the speaker.

Every report of levels is also handed on (`report`: the node posts them to the gateway).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from mcu.clock import Clock
from mcu.events import SpeakerChanged
from mcu.live_conference import LiveConference
from mcu.runtime.live_conferences import LiveConferences
from mcu.runtime.voice_switching import VoiceSwitching


class PeerSites:
    """conf_id -> {uri of a site joined on another node: muted}."""

    def __init__(self) -> None:
        self._joined: dict[str, dict[str, bool]] = {}

    def joined(self, conf_id: str, uri: str) -> bool:
        return uri in self._joined.get(conf_id, {})

    def muted(self, conf_id: str, uri: str) -> bool:
        return self._joined.get(conf_id, {}).get(uri, False)

    def set_joined(self, conf_id: str, uri: str, joined: bool) -> bool:
        """True when this changed what the node knows."""
        sites = self._joined.setdefault(conf_id, {})
        if joined == (uri in sites):
            return False
        if joined:
            sites[uri] = False
        else:
            del sites[uri]
        return True

    def set_muted(self, conf_id: str, uri: str, muted: bool) -> bool:
        """Record a peer site's mute; False when the site is no joined peer site."""
        sites = self._joined.get(conf_id, {})
        if uri not in sites:
            return False
        sites[uri] = muted
        return True

    def of(self, conf_id: str) -> list[str]:
        return list(self._joined.get(conf_id, {}))

    def forget(self, conf_id: str) -> None:
        self._joined.pop(conf_id, None)


class NodeVoiceSwitching(VoiceSwitching):
    """The runtime's voice switching over its own sites and the conference's peer sites."""

    def __init__(self, conferences: LiveConferences, clock: Clock, speaker_hold: float,
                 peers: PeerSites, report: Callable[[str, Mapping[str, float]], None]) -> None:
        super().__init__(conferences, clock, speaker_hold)
        self.peers = peers
        self.report = report

    def report_audio_levels(self, conf_id: str, levels: Mapping[str, float]) -> str | None:
        speaking = super().report_audio_levels(conf_id, levels)
        self.report(conf_id, levels)
        return speaking

    def joined(self, live: LiveConference, uri: str) -> bool:
        if uri in live.sites:
            return super().joined(live, uri)
        return self.peers.joined(live.conf_id, uri)

    def muted(self, live: LiveConference, uri: str) -> bool:
        if uri in live.sites:
            return super().muted(live, uri)
        return self.peers.muted(live.conf_id, uri)

    def peer_left(self, conf_id: str, uri: str) -> None:
        """A peer site left: its level no longer counts; the speaker no more if it was."""
        live = self.conferences.get(conf_id)
        if live is None or uri in live.sites:
            return
        live.audio_levels.pop(uri, None)
        if live.speaker_candidate is not None and live.speaker_candidate[0] == uri:
            live.speaker_candidate = None
        if live.speaking == uri:
            live.speaking = None
            self.events.emit(SpeakerChanged(conf_id, None))
