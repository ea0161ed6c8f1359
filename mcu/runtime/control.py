"""Conference control (WS/T 546 4.6, confCtrl and TerminalConfCtr): who watches whom,
broadcast, continuous presence, microphones and loudspeakers, chair, floor and the
presentation lock (the content floor's, mcu/runtime/content_floor.py).

Control operations are asynchronous (WS/T 546 4.2.3): a method returns once the command is
accepted; effects that need a terminal show in later queries. Each method validates
everything first and raises DomainError without changing anything, then changes the live
state and emits one event per change (mcu/events.py). Operations on a conference that is
not ongoing raise CONFERENCE_NOT_ONGOING.
"""

from __future__ import annotations

from collections.abc import Sequence

from mcu.errors import DomainError, Fault
from mcu.events import (
    AudioSwitchChanged,
    BroadcastChanged,
    ChairChanged,
    FloorChanged,
    LayoutChanged,
    LocalVideoChanged,
    SiteMuted,
    SiteQuieted,
    SiteVolumeChanged,
    VideoSourceChanged,
)
from mcu.layouts import layout_mode
from mcu.live_conference import CP_MODES, CpSetting, LiveConference, cp_pane_count
from mcu.runtime.content_floor import ContentFloors
from mcu.runtime.live_conferences import (
    LiveConferences,
    all_booked_sites,
    booked_site,
    connected_site,
    resolve_target,
)

VOLUME_RANGE = range(0, 101)
SWITCH_GATE_RANGE = range(0, 101)


class ConferenceControl:
    def __init__(self, conferences: LiveConferences, floors: ContentFloors) -> None:
        self.conferences = conferences
        self.events = conferences.events
        self.floors = floors

    # ------------------------------------------------------------------ pictures

    def set_video_source(self, conf_id: str, uri: str, source_uri: str, lock: bool = False) -> None:
        """setVideoSourceEx: site `uri` watches site `source_uri`. Both must be joined."""
        live = self.conferences.running(conf_id)
        site = connected_site(live, uri)
        connected_site(live, source_uri)
        site.video_source, site.video_source_locked = source_uri, lock
        self.events.emit(VideoSourceChanged(live.conf_id, uri, source_uri, lock))

    def set_broadcast_site(self, conf_id: str, uri: str, broadcast: bool) -> None:
        """setBroadcastSiteEx (wire isBroadcast 0 = start, 1 = stop). Starting replaces any
        broadcast, including the CP broadcast; stopping a site that is not broadcast keeps
        the state as it is."""
        live = self.conferences.running(conf_id)
        if broadcast:
            connected_site(live, uri)
            live.broadcast_site, live.broadcast_cp = uri, False
        else:
            booked_site(live, uri)
            if live.broadcast_site != uri:
                return
            live.broadcast_site = None
        self.events.emit(BroadcastChanged(live.conf_id, live.broadcast_site, live.broadcast_cp))

    def set_broadcast_cp(self, conf_id: str, broadcast: bool) -> None:
        """setBroadcastContinuousPresenceEx (wire 0 = start, 1 = stop): every site watches
        the conference's CP picture."""
        live = self.conferences.running(conf_id)
        if broadcast:
            live.broadcast_cp, live.broadcast_site = True, None
        else:
            live.broadcast_cp = False
        self.events.emit(BroadcastChanged(live.conf_id, live.broadcast_site, live.broadcast_cp))

    def set_continuous_presence(
        self, conf_id: str, target: str, mode: int, sub_pics: Sequence[str] = ()
    ) -> None:
        """setContinuousPresenceEx. target "" or "0": the conference picture; "(uri)" or a
        booked URI: that site's own picture; "N" (another group): NOT_SUPPORTED. mode 0..49
        (table 63) with no more panes than the conference's cpResouce; sub_pics in pane
        order, each a site URI, "uri(%AUX1)" for its content, or "" for an empty pane; a URI
        of no site in the conference leaves its pane on the placeholder.

        The mode decides the picture, subPics only fill it: entries beyond the mode's last
        pane (two for CP_1_1, any for CP_None, whose one pane is voice-switched) have no
        pane and are dropped, the request succeeds and getContinuousPresenceParamEx answers
        the panes the mode has. WS/T 546 table 61 bounds subPics by nothing (0..n) and names
        no error for it; its one layout error (1347420262) is for the mode; a shorter list
        leaves the remaining panes on placeholders, so the list's length never changes what
        is shown (docs/gateway.md)."""
        live = self.conferences.running(conf_id)
        resolved = resolve_target(live.sites.keys(), target)
        cp_resource = live.conference.spec.cp_resource
        if mode not in CP_MODES:
            raise DomainError(Fault.BAD_LAYOUT, f"presenceMode {mode} not in 0..49")
        panes = cp_pane_count(mode)
        if cp_resource <= 0 and mode != 0:
            raise DomainError(Fault.NO_CONTINUOUS_PRESENCE, live.conf_id)
        if panes > cp_resource:
            raise DomainError(
                Fault.BAD_LAYOUT,
                f"{layout_mode(mode).name} needs {panes} panes, cpResouce {cp_resource}",
            )
        # an entry naming a site that is not booked (or not joined) is kept: its pane shows
        # the "no video" placeholder until such a site is there, so a client may lay out a
        # picture in advance
        setting = CpSetting(mode, tuple(sub_pics[:panes]))
        live.layouts[resolved] = setting
        self.events.emit(LayoutChanged(live.conf_id, resolved, mode, setting.sub_pics))

    def set_local_video(self, conf_id: str, uris: Sequence[str], open_: bool) -> None:
        """displayConfSiteLocalVideoEx (open_=True) / hideConfSiteLocalVideoEx (False)."""
        live = self.conferences.running(conf_id)
        sites = all_booked_sites(live, uris)
        for site in sites:
            site.local_video_open = open_
            self.events.emit(LocalVideoChanged(live.conf_id, site.uri, open_))

    # ------------------------------------------------------------------ sound

    def set_audio_switch(self, conf_id: str, enabled: bool, gate: int | None = None) -> None:
        """setAudioSwitchEx. gate 1..100 sets the threshold; 0 or None keeps the current one
        (default 15, WS/T 546 table 8)."""
        if gate is not None and gate not in SWITCH_GATE_RANGE:
            raise DomainError(Fault.OUT_OF_RANGE, f"switchGate {gate} not in 0..100")
        live = self.conferences.running(conf_id)
        live.audio_switch = enabled
        if gate:
            live.switch_gate = gate
        self.events.emit(AudioSwitchChanged(live.conf_id, enabled, live.switch_gate))

    def set_sites_mute(self, conf_id: str, uris: Sequence[str], muted: bool) -> None:
        """setSitesMuteEx (wire 0 = mute, 1 = unmute): the sites' microphones. Every URI must
        be booked; the setting stays with the site across reconnects."""
        live = self.conferences.running(conf_id)
        sites = all_booked_sites(live, uris)
        for site in sites:
            site.muted = muted
            self.events.emit(SiteMuted(live.conf_id, site.uri, muted))

    def set_sites_quiet(self, conf_id: str, uris: Sequence[str], quiet: bool) -> None:
        """setSitesQuietEx (wire 0 = quiet, 1 = not): the sites' loudspeakers."""
        live = self.conferences.running(conf_id)
        sites = all_booked_sites(live, uris)
        for site in sites:
            site.quiet = quiet
            self.events.emit(SiteQuieted(live.conf_id, site.uri, quiet))

    def set_site_volumes(self, conf_id: str, volumes: Sequence[tuple[str, int]]) -> None:
        """setConfSiteVolumeEx: volume 0..100 per booked site."""
        if not volumes:
            raise DomainError(Fault.MISSING_PARAMETER, "siteVolumes")
        for uri, volume in volumes:
            if volume not in VOLUME_RANGE:
                raise DomainError(Fault.OUT_OF_RANGE, f"volume {volume} of {uri} not in 0..100")
        live = self.conferences.running(conf_id)
        sites = all_booked_sites(live, [uri for uri, _ in volumes])
        for site, (_, volume) in zip(sites, volumes, strict=True):
            site.volume = volume
            self.events.emit(SiteVolumeChanged(live.conf_id, site.uri, volume))

    # ------------------------------------------------------------------ chair and floor

    def request_conf_chair(self, conf_id: str, uri: str) -> None:
        """requestConfChairEx: one chair at a time; another site's request -> CHAIR_TAKEN."""
        live = self.conferences.running(conf_id)
        self._grant_chair(live, uri)

    def release_conf_chair(self, conf_id: str) -> None:
        """releaseConfChairEx: the conference has no chair afterwards."""
        live = self.conferences.running(conf_id)
        if live.chair is not None:
            live.chair = None
            self.events.emit(ChairChanged(live.conf_id, None))

    def request_chair(self, uri: str) -> None:
        """requestChairEx: the site asks for the chair of the conference it is in."""
        live, _ = self.conferences.conference_of(uri, connected=True)
        self._grant_chair(live, uri)

    def release_chair(self, uri: str) -> None:
        """releaseChairEx: only the chair can release it (NOT_CHAIR otherwise)."""
        live, _ = self.conferences.conference_of(uri, connected=True)
        if live.chair != uri:
            raise DomainError(Fault.NOT_CHAIR, uri)
        live.chair = None
        self.events.emit(ChairChanged(live.conf_id, None))

    def _grant_chair(self, live: LiveConference, uri: str) -> None:
        connected_site(live, uri)
        if live.chair == uri:
            return
        if live.chair is not None:
            raise DomainError(Fault.CHAIR_TAKEN, f"{live.chair} holds the chair")
        live.chair = uri
        self.events.emit(ChairChanged(live.conf_id, uri))

    def set_floor(self, conf_id: str, uri: str) -> None:
        """setFloorEx (roll call): the site gets the floor, is broadcast to everyone and its
        microphone is opened."""
        live = self.conferences.running(conf_id)
        site = connected_site(live, uri)
        live.floor = uri
        self.events.emit(FloorChanged(live.conf_id, uri))
        if live.broadcast_site != uri or live.broadcast_cp:
            live.broadcast_site, live.broadcast_cp = uri, False
            self.events.emit(BroadcastChanged(live.conf_id, uri, False))
        if site.muted:
            site.muted = False
            self.events.emit(SiteMuted(live.conf_id, uri, False))

    # ------------------------------------------------------------------ content floor

    def lock_presentation(self, conf_id: str, uri: str) -> None:
        """lockPresentationEx: the site holds the content floor (granted now if it did not),
        nobody else may take it until unlockPresentationEx (mcu/runtime/content_floor.py)."""
        self.floors.lock(conf_id, uri)

    def unlock_presentation(self, conf_id: str) -> None:
        self.floors.unlock(conf_id)
