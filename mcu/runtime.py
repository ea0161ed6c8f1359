"""The live conference runtime: the state of running conferences that control operations act
on and status queries answer from.

Control operations are asynchronous (WS/T 546 4.2.3): a method returns once the command is
accepted; effects that need a terminal (a call being answered) show in later queries. Each
method validates everything first and raises DomainError without changing anything, then
changes the state and emits one event per change (mcu/events.py) for the media engine.

Life cycle: reconcile() (the server calls it about once a second; tests call it directly)
asks the scheduler which occurrences are ongoing by the injected clock, starts live state for
new ones (calling their dial-out sites), follows booking changes, and ends the rest (hanging
everybody up). Control operations on a conference that is not ongoing raise
CONFERENCE_NOT_ONGOING; status queries on a scheduled one answer its booked sites as not
joined.

Values are domain values, not wire values: flags are bools, "no value" is None. The gateway
converts (see the module docstring of each return type for the wire conventions it maps).
Everything runs on one asyncio loop; call timeouts use loop time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mcu.calls import Call, CallFailure, Dialer, RegistryDialer
from mcu.clock import Clock
from mcu.endpoints import DeviceVersion, Endpoint, EndpointRegistry, TerminalDevice, VideoInput
from mcu.errors import DomainError, Fault
from mcu.events import (
    AudioSwitchChanged,
    BroadcastChanged,
    CameraCommanded,
    ChairChanged,
    ConferenceEnded,
    ConferenceStarted,
    ErrorInfo,
    EventBus,
    FloorChanged,
    LayoutChanged,
    Listener,
    LiveBroadcastChanged,
    LocalVideoChanged,
    PresentationChanged,
    RecordingChanged,
    SiteCallStateChanged,
    SiteMuted,
    SiteQuieted,
    SiteVolumeChanged,
    SpeakerChanged,
    StreamSourcesChanged,
    VideoOutputChanged,
    VideoSourceChanged,
)
from mcu.layouts import layout_mode
from mcu.live_conference import (
    CONFERENCE_TARGET,
    CP_MODES,
    CameraCommand,
    CameraState,
    CpSetting,
    LiveConference,
    LiveSite,
    cp_pane_count,
)
from mcu.model import (
    Conference,
    ConferenceState,
    DialingMode,
    Occurrence,
    SiteCallState,
    SiteType,
)

VOLUME_RANGE = range(0, 101)
SWITCH_GATE_RANGE = range(0, 101)
HD_OUTPUTS = range(0, 7)  # 0..4 HD1..HD5, 5..6 SD1..SD2
VIDEO_OUT_SOURCES = range(0, 4)  # local main, local aux, remote main, remote aux
CAMERA_STATES = range(0, 2)  # 0 local camera, 1 far-end camera
CAMERA_ACTIONS = range(0, 24)
PRESET_ACTIONS = frozenset({18, 19, 20})  # store / activate / clear preset: camPos required
SELECT_SOURCE_ACTION = 21
STORE_PRESET, ACTIVATE_PRESET, CLEAR_PRESET = 18, 19, 20
NO_PRESET = 255  # camPos when the action is not a preset action
PRESET_POSITIONS = range(0, 255)
SPEAKER_HOLD_SECONDS = 1.0  # the server's voice-switching hold (loudest this long to switch)


class SchedulerView(Protocol):
    """What the runtime needs of mcu/scheduler.py."""

    def ongoing(self) -> list[tuple[Conference, Occurrence]]: ...

    def get(self, conf_id: str) -> Conference: ...

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]: ...


@dataclass(frozen=True)
class ConferenceStatus:
    """ConferenceStatusEx. Live fields are None unless the conference is ongoing. Flags are
    bools (wire 1/0); the gateway writes begin/end of the occurrence."""

    conf_id: str
    name: str
    state: ConferenceState
    begin: datetime | None
    end: datetime | None
    chair: str | None = None
    broadcast: str | None = None
    speaking: str | None = None
    presentation: str | None = None
    locked: bool | None = None
    audio_switch: bool | None = None
    switch_gate: int | None = None
    presentation_locked: bool | None = None
    presentation_lock_holder: str | None = None


@dataclass(frozen=True)
class SiteStatus:
    """SiteStatusEx. volume is None when the site is not in the conference (the reference
    platform then writes 65535). muted/quiet are bools: the gateway maps them to the wire's
    0 = muted/quiet, 1 = not (WS/T 546 tables 9, 57, 59)."""

    uri: str
    name: str
    state: SiteCallState
    type: SiteType
    volume: int | None = None
    video_source: str | None = None
    muted: bool = False
    quiet: bool = False
    local_video_open: bool | None = None
    call_failed_reason: ErrorInfo | None = None
    participant_type: int | None = None


@dataclass(frozen=True)
class CpInfo:
    """getContinuousPresenceInfoEx: targets accepted by setContinuousPresenceEx ("0" and
    "(uri)" per booked site), the conference's cpResouce and the modes that fit in it."""

    targets: tuple[str, ...]
    cp_resource: int
    supported_modes: tuple[int, ...]


@dataclass(frozen=True)
class BroadInfo:
    """BroadInfoEx. *_active is None when the feature is not supported (the standard: status
    only when supported)."""

    live_supported: bool
    recording_supported: bool
    live_active: bool | None
    recording_active: bool | None


class ConferenceRuntime:
    def __init__(
        self,
        scheduler: SchedulerView,
        clock: Clock,
        *,
        registry: EndpointRegistry | None = None,
        dialer: Dialer | None = None,
        call_timeout: float = 30.0,
        speaker_hold: float = 0.0,
    ) -> None:
        if call_timeout <= 0:
            raise ValueError("call_timeout must be positive")
        self.scheduler = scheduler
        self.clock = clock
        self.registry = registry if registry is not None else EndpointRegistry()
        self.dialer: Dialer = dialer if dialer is not None else RegistryDialer(self.registry)
        self.call_timeout = call_timeout
        self.speaker_hold = speaker_hold
        self._speaker_candidates: dict[str, tuple[str, float]] = {}  # conf -> (uri, since)
        self.events = EventBus()
        self._live: dict[str, LiveConference] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener for runtime events; returns a function that unsubscribes."""
        return self.events.subscribe(listener)

    # ------------------------------------------------------------------ life cycle

    def reconcile(self) -> None:
        """Bring live state in line with the scheduler: start, update and end conferences."""
        ongoing = {conf.conf_id: (conf, occ) for conf, occ in self.scheduler.ongoing()}
        for conf_id, live in list(self._live.items()):
            current = ongoing.get(conf_id)
            if current is None or current[1].begin != live.begin:
                self._end(live)
        for conf_id, (conf, occ) in ongoing.items():
            live = self._live.get(conf_id)
            if live is None:
                self._start(conf, occ)
            else:
                self._follow_booking(live, conf, occ)

    def live_conference_ids(self) -> list[str]:
        return list(self._live)

    def _start(self, conference: Conference, occurrence: Occurrence) -> None:
        live = LiveConference(conference, occurrence)
        for spec in occurrence.sites:
            live.sites[spec.uri] = LiveSite(spec)
        self._live[live.conf_id] = live
        self.events.emit(ConferenceStarted(live.conf_id))
        for site in list(live.sites.values()):
            if site.spec.dialing_mode is DialingMode.MCU_CALLS_SITE:
                self._dial(live, site)

    def _end(self, live: LiveConference) -> None:
        for site in list(live.sites.values()):
            self._hang_up(site)
        del self._live[live.conf_id]
        self._speaker_candidates.pop(live.conf_id, None)
        self.events.emit(ConferenceEnded(live.conf_id))

    def _follow_booking(
        self, live: LiveConference, conference: Conference, occurrence: Occurrence
    ) -> None:
        """Sites added to a running conference appear as not joined (connectSitesEx calls
        them); removed ones are hung up. Prolongations just move the end."""
        live.conference = conference
        live.occurrence = occurrence
        booked = {spec.uri: spec for spec in occurrence.sites}
        for uri, site in list(live.sites.items()):
            if uri not in booked:
                self._hang_up(site)
                del live.sites[uri]
        for uri, spec in booked.items():
            if uri in live.sites:
                live.sites[uri].spec = spec
            else:
                live.sites[uri] = LiveSite(spec)

    def _running(self, conf_id: str) -> LiveConference:
        state, occurrence = self.scheduler.state(conf_id)  # CONFERENCE_NOT_FOUND passes up
        live = self._live.get(conf_id)
        if state is ConferenceState.ONGOING:
            if live is None or live.begin != occurrence.begin:
                self.reconcile()
                live = self._live.get(conf_id)
            if live is not None:
                return live
        elif live is not None:
            self.reconcile()
        raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)

    # ------------------------------------------------------------------ calls

    def connect_sites(self, conf_id: str, uris: Sequence[str]) -> list[str]:
        """connectSitesEx: call the listed booked sites that are not joined. Unknown URIs are
        skipped; all unknown -> SITE_NOT_FOUND. Returns the URIs actually called."""
        live = self._running(conf_id)
        sites = self._some_booked_sites(live, uris)
        called = [site for site in sites if not (site.call and site.call.active)]
        for site in called:
            self._dial(live, site)
        return [site.uri for site in called]

    def disconnect_sites(self, conf_id: str, uris: Sequence[str]) -> list[str]:
        """disconnectSitesEx: hang up the listed sites that are calling, ringing or joined.
        Same unknown-URI rule as connect_sites. Returns the URIs hung up."""
        live = self._running(conf_id)
        sites = self._some_booked_sites(live, uris)
        return [site.uri for site in sites if self._hang_up(site)]

    def accept_dial_in(self, conf_id: str, endpoint: Endpoint) -> Call:
        """A terminal calls in (dialingMode 1, or any booked site dialling the conference):
        signalling (issue 4) hands over the endpoint. The site is CALLING until the endpoint
        answers the call (its media flows); past the call timeout it fails (116)."""
        live = self._running(conf_id)
        site = live.sites.get(endpoint.uri)
        if site is None:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, endpoint.uri)
        if site.call is not None and site.call.active:
            raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, endpoint.uri)
        call = Call(live.conf_id, site.spec, self._call_changed)
        call.endpoint = endpoint
        site.call = call
        site.last_failure = None
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state))
        call.start_timeout(self.call_timeout,
                           CallFailure.NETWORK_ERROR.info("dial-in: no media before the timeout"))
        return call

    def _dial(self, live: LiveConference, site: LiveSite) -> None:
        call = Call(live.conf_id, site.spec, self._call_changed)
        site.call = call
        site.last_failure = None
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state))
        call.start_timeout(self.call_timeout)
        self.dialer.place_call(call)

    def _hang_up(self, site: LiveSite) -> bool:
        call = site.call
        if call is None or not call.hang_up_local():
            return False
        self.dialer.clear_call(call)
        return True

    def _call_changed(self, call: Call) -> None:
        live = self._live.get(call.conf_id)
        site = live.sites.get(call.uri) if live is not None else None
        if live is None or site is None or site.call is not call:
            return  # a call replaced by a newer one, or of a conference that is over
        failure = call.failure if call.state is SiteCallState.NOT_JOINED else None
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state, failure))
        if call.state is SiteCallState.NOT_JOINED:
            self._site_left(live, site)

    def _site_left(self, live: LiveConference, site: LiveSite) -> None:
        """Roles and choices that need the site connected end with its call."""
        uri = site.uri
        site.sending_aux = False
        live.audio_levels.pop(uri, None)
        if site.video_source is not None:
            site.video_source, site.video_source_locked = None, False
            self.events.emit(VideoSourceChanged(live.conf_id, uri, None, False))
        if live.chair == uri:
            live.chair = None
            self.events.emit(ChairChanged(live.conf_id, None))
        if live.floor == uri:
            live.floor = None
            self.events.emit(FloorChanged(live.conf_id, None))
        if live.broadcast_site == uri:
            live.broadcast_site = None
            self.events.emit(BroadcastChanged(live.conf_id, None, live.broadcast_cp))
        if live.presentation == uri:
            live.presentation, live.presentation_locked = None, False
            self.events.emit(PresentationChanged(live.conf_id, None, False))
        if live.speaking == uri:
            live.speaking = None
            self.events.emit(SpeakerChanged(live.conf_id, None))
        for other in live.sites.values():
            if other.video_source == uri:
                other.video_source, other.video_source_locked = None, False
                self.events.emit(VideoSourceChanged(live.conf_id, other.uri, None, False))

    # ------------------------------------------------------------------ queries

    def conference_statuses(self, conf_ids: Iterable[str]) -> list[ConferenceStatus]:
        """queryConferencesStatusEx: one status per id, NOT_EXIST for unknown ids."""
        return [self.conference_status(conf_id) for conf_id in conf_ids]

    def conference_status(self, conf_id: str) -> ConferenceStatus:
        try:
            state, occurrence = self.scheduler.state(conf_id)
        except DomainError as error:
            if error.fault is Fault.CONFERENCE_NOT_FOUND:
                return ConferenceStatus(conf_id, "", ConferenceState.NOT_EXIST, None, None)
            raise
        if state is ConferenceState.ONGOING:
            try:
                live = self._running(conf_id)
            except DomainError:
                live = None
            if live is not None:
                return ConferenceStatus(
                    conf_id=conf_id,
                    name=live.occurrence.name,
                    state=state,
                    begin=live.occurrence.begin,
                    end=live.occurrence.end,
                    chair=live.chair,
                    broadcast=live.broadcast_site,
                    speaking=live.speaking,
                    presentation=live.presentation,
                    locked=live.locked,
                    audio_switch=live.audio_switch,
                    switch_gate=live.switch_gate,
                    presentation_locked=live.presentation_locked,
                    presentation_lock_holder=(
                        live.presentation if live.presentation_locked else None
                    ),
                )
        return ConferenceStatus(conf_id, occurrence.name, state, occurrence.begin, occurrence.end)

    def site_statuses(self, conf_id: str, uris: Sequence[str] = ()) -> list[SiteStatus]:
        """queryConfSitesStatusEx: the listed sites (all booked sites when empty). A URI not
        booked in the conference answers NOT_EXIST. Not ongoing: booked sites not joined."""
        state, occurrence = self.scheduler.state(conf_id)
        live = self._running(conf_id) if state is ConferenceState.ONGOING else None
        if live is not None:
            wanted = list(uris) or list(live.sites)
            return [self._live_site_status(live.sites.get(uri), uri) for uri in wanted]
        booked = {spec.uri: spec for spec in occurrence.sites}
        wanted = list(uris) or list(booked)
        statuses = []
        for uri in wanted:
            spec = booked.get(uri)
            if spec is None:
                statuses.append(SiteStatus(uri, "", SiteCallState.NOT_EXIST, SiteType.INVALID))
            else:
                statuses.append(
                    SiteStatus(
                        uri,
                        spec.name,
                        SiteCallState.NOT_JOINED,
                        spec.type,
                        participant_type=spec.participant_type,
                    )
                )
        return statuses

    @staticmethod
    def _live_site_status(site: LiveSite | None, uri: str) -> SiteStatus:
        if site is None:
            return SiteStatus(uri, "", SiteCallState.NOT_EXIST, SiteType.INVALID)
        connected = site.connected
        return SiteStatus(
            uri=site.uri,
            name=site.spec.name,
            state=site.state,
            type=site.spec.type,
            volume=site.volume if connected else None,
            video_source=site.video_source,
            muted=site.muted,
            quiet=site.quiet,
            local_video_open=site.local_video_open if connected else None,
            call_failed_reason=site.failure if site.state is SiteCallState.NOT_JOINED else None,
            participant_type=site.spec.participant_type,
        )

    # ------------------------------------------------------------------ confCtrl

    def set_video_source(self, conf_id: str, uri: str, source_uri: str, lock: bool = False) -> None:
        """setVideoSourceEx: site `uri` watches site `source_uri`. Both must be joined."""
        live = self._running(conf_id)
        site = self._connected_site(live, uri)
        self._connected_site(live, source_uri)
        site.video_source, site.video_source_locked = source_uri, lock
        self.events.emit(VideoSourceChanged(live.conf_id, uri, source_uri, lock))

    def set_audio_switch(self, conf_id: str, enabled: bool, gate: int | None = None) -> None:
        """setAudioSwitchEx. gate 1..100 sets the threshold; 0 or None keeps the current one
        (default 15, WS/T 546 table 8)."""
        if gate is not None and gate not in SWITCH_GATE_RANGE:
            raise DomainError(Fault.OUT_OF_RANGE, f"switchGate {gate} not in 0..100")
        live = self._running(conf_id)
        live.audio_switch = enabled
        if gate:
            live.switch_gate = gate
        self.events.emit(AudioSwitchChanged(live.conf_id, enabled, live.switch_gate))

    def set_broadcast_site(self, conf_id: str, uri: str, broadcast: bool) -> None:
        """setBroadcastSiteEx (wire isBroadcast 0 = start, 1 = stop). Starting replaces any
        broadcast, including the CP broadcast; stopping a site that is not broadcast keeps
        the state as it is."""
        live = self._running(conf_id)
        if broadcast:
            self._connected_site(live, uri)
            live.broadcast_site, live.broadcast_cp = uri, False
        else:
            self._booked_site(live, uri)
            if live.broadcast_site != uri:
                return
            live.broadcast_site = None
        self.events.emit(BroadcastChanged(live.conf_id, live.broadcast_site, live.broadcast_cp))

    def set_broadcast_cp(self, conf_id: str, broadcast: bool) -> None:
        """setBroadcastContinuousPresenceEx (wire 0 = start, 1 = stop): every site watches
        the conference's CP picture."""
        live = self._running(conf_id)
        if broadcast:
            live.broadcast_cp, live.broadcast_site = True, None
        else:
            live.broadcast_cp = False
        self.events.emit(BroadcastChanged(live.conf_id, live.broadcast_site, live.broadcast_cp))

    def set_sites_mute(self, conf_id: str, uris: Sequence[str], muted: bool) -> None:
        """setSitesMuteEx (wire 0 = mute, 1 = unmute): the sites' microphones. Every URI must
        be booked; the setting stays with the site across reconnects."""
        live = self._running(conf_id)
        sites = self._all_booked_sites(live, uris)
        for site in sites:
            site.muted = muted
            self.events.emit(SiteMuted(live.conf_id, site.uri, muted))

    def set_sites_quiet(self, conf_id: str, uris: Sequence[str], quiet: bool) -> None:
        """setSitesQuietEx (wire 0 = quiet, 1 = not): the sites' loudspeakers."""
        live = self._running(conf_id)
        sites = self._all_booked_sites(live, uris)
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
        live = self._running(conf_id)
        sites = self._all_booked_sites(live, [uri for uri, _ in volumes])
        for site, (_, volume) in zip(sites, volumes, strict=True):
            site.volume = volume
            self.events.emit(SiteVolumeChanged(live.conf_id, site.uri, volume))

    def set_local_video(self, conf_id: str, uris: Sequence[str], open_: bool) -> None:
        """displayConfSiteLocalVideoEx (open_=True) / hideConfSiteLocalVideoEx (False)."""
        live = self._running(conf_id)
        sites = self._all_booked_sites(live, uris)
        for site in sites:
            site.local_video_open = open_
            self.events.emit(LocalVideoChanged(live.conf_id, site.uri, open_))

    def set_continuous_presence(
        self, conf_id: str, target: str, mode: int, sub_pics: Sequence[str] = ()
    ) -> None:
        """setContinuousPresenceEx. target "" or "0": the conference picture; "(uri)" or a
        booked URI: that site's own picture; "N" (another group): NOT_SUPPORTED. mode 0..49
        (table 63) with no more panes than the conference's cpResouce; sub_pics in pane
        order, each a site URI, "uri(%AUX1)" for its content, or "" for an empty pane; a URI
        of no site in the conference leaves its pane on the placeholder."""
        live = self._running(conf_id)
        resolved = self._resolve_target(live.sites.keys(), target)
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
        if len(sub_pics) > panes:
            raise DomainError(
                Fault.BAD_LAYOUT,
                f"{len(sub_pics)} subPics for {panes} panes of {layout_mode(mode).name}",
            )
        # an entry naming a site that is not booked (or not joined) is kept: its pane shows
        # the "no video" placeholder until such a site is there (issue 3: unknown entries
        # leave a pane on the placeholder), so a client may lay out a picture in advance
        setting = CpSetting(mode, tuple(sub_pics))
        live.layouts[resolved] = setting
        self.events.emit(LayoutChanged(live.conf_id, resolved, mode, setting.sub_pics))

    def cp_info(self, conf_id: str) -> CpInfo:
        """getContinuousPresenceInfoEx; answers for scheduled conferences too (from booking)."""
        conference = self.scheduler.get(conf_id)
        _, occurrence = self.scheduler.state(conf_id)
        cp_resource = conference.spec.cp_resource
        modes = tuple(mode for mode in CP_MODES if cp_pane_count(mode) <= cp_resource)
        targets = ("0", *(f"({spec.uri})" for spec in occurrence.sites))
        return CpInfo(targets, cp_resource, modes)

    def cp_param(self, conf_id: str, target: str) -> CpSetting:
        """getContinuousPresenceParamEx: the picture of the target; a site without its own
        picture sees the conference's. Nothing set yet: CP_None with no panes."""
        state, occurrence = self.scheduler.state(conf_id)
        if state is not ConferenceState.ONGOING:
            self._resolve_target({spec.uri for spec in occurrence.sites}, target)
            return CpSetting()
        live = self._running(conf_id)
        resolved = self._resolve_target(live.sites.keys(), target)
        return live.layouts.get(resolved) or live.layouts.get(CONFERENCE_TARGET) or CpSetting()

    def request_conf_chair(self, conf_id: str, uri: str) -> None:
        """requestConfChairEx: one chair at a time; another site's request -> CHAIR_TAKEN."""
        live = self._running(conf_id)
        self._grant_chair(live, uri)

    def release_conf_chair(self, conf_id: str) -> None:
        """releaseConfChairEx: the conference has no chair afterwards."""
        live = self._running(conf_id)
        if live.chair is not None:
            live.chair = None
            self.events.emit(ChairChanged(live.conf_id, None))

    def request_chair(self, uri: str) -> None:
        """requestChairEx: the site asks for the chair of the conference it is in."""
        live, _ = self._conference_of(uri, connected=True)
        self._grant_chair(live, uri)

    def release_chair(self, uri: str) -> None:
        """releaseChairEx: only the chair can release it (NOT_CHAIR otherwise)."""
        live, _ = self._conference_of(uri, connected=True)
        if live.chair != uri:
            raise DomainError(Fault.NOT_CHAIR, uri)
        live.chair = None
        self.events.emit(ChairChanged(live.conf_id, None))

    def _grant_chair(self, live: LiveConference, uri: str) -> None:
        self._connected_site(live, uri)
        if live.chair == uri:
            return
        if live.chair is not None:
            raise DomainError(Fault.CHAIR_TAKEN, f"{live.chair} holds the chair")
        live.chair = uri
        self.events.emit(ChairChanged(live.conf_id, uri))

    def set_floor(self, conf_id: str, uri: str) -> None:
        """setFloorEx (roll call): the site gets the floor, is broadcast to everyone and its
        microphone is opened."""
        live = self._running(conf_id)
        site = self._connected_site(live, uri)
        live.floor = uri
        self.events.emit(FloorChanged(live.conf_id, uri))
        if live.broadcast_site != uri or live.broadcast_cp:
            live.broadcast_site, live.broadcast_cp = uri, False
            self.events.emit(BroadcastChanged(live.conf_id, uri, False))
        if site.muted:
            site.muted = False
            self.events.emit(SiteMuted(live.conf_id, uri, False))

    def lock_presentation(self, conf_id: str, uri: str) -> None:
        """lockPresentationEx: the site holds the presentation (aux) token, nobody else may
        take it until unlockPresentationEx."""
        live = self._running(conf_id)
        self._connected_site(live, uri)
        if live.presentation_locked and live.presentation != uri:
            raise DomainError(Fault.PRESENTATION_LOCKED, f"locked by {live.presentation}")
        self._move_token(live, uri)
        live.presentation_locked = True
        self.events.emit(PresentationChanged(live.conf_id, uri, True))

    def unlock_presentation(self, conf_id: str) -> None:
        live = self._running(conf_id)
        if live.presentation_locked:
            live.presentation_locked = False
            self.events.emit(PresentationChanged(live.conf_id, live.presentation, False))

    def _move_token(self, live: LiveConference, uri: str) -> None:
        if live.presentation is not None and live.presentation != uri:
            previous = live.sites.get(live.presentation)
            if previous is not None:
                previous.sending_aux = False
        live.presentation = uri

    def set_recording(self, uri: str, start: bool) -> None:
        """setRecordBroadEx (wire action 0 = start, 1 = stop) for the site's conference."""
        live, _ = self._conference_of(uri)
        if not live.conference.spec.is_recording:
            raise DomainError(Fault.RECORDING_NOT_SUPPORTED, live.conf_id)
        live.recording = start
        self.events.emit(RecordingChanged(live.conf_id, start))

    def set_live_broadcast(self, uri: str, start: bool) -> None:
        """setDirectBroadEx (wire action 0 = start, 1 = stop). Live broadcast is a feature of
        a recording conference (table 4: isLiveBroadcast)."""
        live, _ = self._conference_of(uri)
        spec = live.conference.spec
        if not (spec.is_recording and spec.is_live_broadcast):
            raise DomainError(Fault.LIVE_BROADCAST_NOT_SUPPORTED, live.conf_id)
        live.live_broadcast = start
        self.events.emit(LiveBroadcastChanged(live.conf_id, start))

    def broad_info(self, uri: str) -> BroadInfo:
        """queryBroadInfoEx for the conference the site is in."""
        live, _ = self._conference_of(uri)
        spec = live.conference.spec
        recording = bool(spec.is_recording)
        live_supported = recording and bool(spec.is_live_broadcast)
        return BroadInfo(
            live_supported=live_supported,
            recording_supported=recording,
            live_active=live.live_broadcast if live_supported else None,
            recording_active=live.recording if recording else None,
        )

    def has_chair_password(self, uri: str) -> bool:
        """queryConfCtrlPwdEx: whether the site's conference has a chairman password."""
        live, _ = self._conference_of(uri)
        return bool(live.conference.chairman_password)

    # ------------------------------------------------------------------ siteMgr

    def set_aux_stream(self, uri: str, send: bool) -> None:
        """setAuxStreamEx (wire controlCode 0 = start, 1 = stop): the site starts sending its
        content stream, taking the presentation token unless another site locked it."""
        live, site = self._conference_of(uri, connected=True)
        if send:
            if live.presentation_locked and live.presentation != uri:
                raise DomainError(Fault.PRESENTATION_LOCKED, f"locked by {live.presentation}")
            if not any(port.connected for port in self._device(uri).aux_inputs):
                raise DomainError(Fault.NOT_SUPPORTED, f"{uri} has no aux source connected")
            self._move_token(live, uri)
            site.sending_aux = True
            self.events.emit(PresentationChanged(live.conf_id, uri, live.presentation_locked))
        elif site.sending_aux or live.presentation == uri:
            site.sending_aux = False
            if live.presentation == uri:
                live.presentation, live.presentation_locked = None, False
            self.events.emit(
                PresentationChanged(live.conf_id, live.presentation, live.presentation_locked)
            )

    def is_sending_aux(self, uri: str) -> bool:
        _, site = self._conference_of(uri, connected=True)
        return site.sending_aux

    def is_receiving_aux(self, uri: str) -> bool:
        """Another joined site of the same conference is sending content."""
        live, _ = self._conference_of(uri, connected=True)
        holder = live.sites.get(live.presentation) if live.presentation else None
        return holder is not None and holder.uri != uri and holder.sending_aux

    def has_aux_source(self, uri: str) -> bool:
        """isConnectAuxSourceEx: a source is plugged into one of the terminal's aux inputs."""
        return any(port.connected for port in self._device(uri).aux_inputs)

    def aux_stream_sources(self, uri: str) -> list[VideoInput]:
        return list(self._device(uri).aux_inputs)

    def main_stream_sources(self, uri: str) -> list[VideoInput]:
        return list(self._device(uri).main_inputs)

    def video_input_states(self, uri: str) -> list[VideoInput]:
        """queryVideoOutSrcStateEx: every input with whether a source is plugged in."""
        return list(self._device(uri).inputs)

    def site_version(self, uri: str) -> DeviceVersion:
        return self._device(uri).version

    def set_video_output(self, uri: str, hd_out: int, video_src: int) -> None:
        """setVideoOutSrcEx: hdOut 0..6 (HD1..HD5, SD1, SD2), videoSrc 0..3 (local main,
        local aux, remote main, remote aux)."""
        if hd_out not in HD_OUTPUTS:
            raise DomainError(Fault.OUT_OF_RANGE, f"hdOut {hd_out} not in 0..6")
        if video_src not in VIDEO_OUT_SOURCES:
            raise DomainError(Fault.OUT_OF_RANGE, f"videoSrc {video_src} not in 0..3")
        live, site = self._conference_of(uri, connected=True)
        site.video_outputs[hd_out] = video_src
        self.events.emit(VideoOutputChanged(live.conf_id, uri, hd_out, video_src))

    def video_outputs(self, uri: str) -> dict[int, int]:
        _, site = self._conference_of(uri, connected=True)
        return dict(site.video_outputs)

    def set_stream_sources(self, uri: str, main_sources: Sequence[int], aux_source: int) -> None:
        """setMainAuxStreamSourcesEx: main inputs (1..n) and the aux input, each an input of
        the terminal able to feed that stream."""
        if not main_sources:
            raise DomainError(Fault.MISSING_PARAMETER, "localMainSrcs")
        device = self._device(uri)
        main_ids = {port.id for port in device.main_inputs}
        aux_ids = {port.id for port in device.aux_inputs}
        for source in main_sources:
            if source not in main_ids:
                raise DomainError(Fault.OUT_OF_RANGE, f"localMainSrcs {source} not a main input")
        if aux_source not in aux_ids:
            raise DomainError(Fault.OUT_OF_RANGE, f"localAuxSrc {aux_source} not an aux input")
        live, site = self._conference_of(uri, connected=True)
        site.main_sources, site.aux_source = tuple(main_sources), aux_source
        self.events.emit(StreamSourcesChanged(live.conf_id, uri, site.main_sources, aux_source))

    def stream_sources(self, uri: str) -> tuple[tuple[int, ...], int | None]:
        _, site = self._conference_of(uri, connected=True)
        return site.main_sources, site.aux_source

    def control_camera(self, uri: str, command: CameraCommand) -> None:
        """ctrlCameraEx. camState 0/1, camAction 0..23; preset actions (18 store, 19 activate,
        20 clear) need camPos 0..254, other actions take no camPos (None or 255); camSrc is an
        input of the terminal. Activating a preset that was never stored is refused."""
        if command.cam_state not in CAMERA_STATES:
            raise DomainError(Fault.OUT_OF_RANGE, f"camState {command.cam_state} not 0 or 1")
        if command.action not in CAMERA_ACTIONS:
            raise DomainError(Fault.OUT_OF_RANGE, f"camAction {command.action} not in 0..23")
        position = command.position
        if command.action in PRESET_ACTIONS:
            if position is None:
                raise DomainError(Fault.MISSING_PARAMETER, "camPos is required for presets")
            if position not in PRESET_POSITIONS:
                raise DomainError(Fault.OUT_OF_RANGE, f"camPos {position} not in 0..254")
        elif position not in (None, NO_PRESET):
            raise DomainError(Fault.OUT_OF_RANGE, f"camPos must be 255 for action {command.action}")
        else:
            position = None
        if self._device(uri).input(command.source) is None:
            raise DomainError(Fault.OUT_OF_RANGE, f"camSrc {command.source} not an input of {uri}")
        live, site = self._conference_of(uri, connected=True)
        camera = site.camera
        key = (command.cam_state, command.source)
        if command.action == ACTIVATE_PRESET and position not in camera.presets.get(key, set()):
            raise DomainError(Fault.OUT_OF_RANGE, f"no preset {position} stored on camSrc {key[1]}")
        if command.action == STORE_PRESET:
            camera.presets.setdefault(key, set()).add(position)
        elif command.action == ACTIVATE_PRESET:
            camera.active_preset[key] = position
        elif command.action == CLEAR_PRESET:
            camera.presets.get(key, set()).discard(position)
            if camera.active_preset.get(key) == position:
                del camera.active_preset[key]
        elif command.action == SELECT_SOURCE_ACTION:
            camera.selected_source = command.source
        normalised = CameraCommand(command.cam_state, command.action, position, command.source)
        camera.last_command = normalised
        self.events.emit(
            CameraCommanded(
                live.conf_id, uri, command.cam_state, command.action, position, command.source
            )
        )

    def camera_state(self, uri: str) -> CameraState:
        """The last camera command and stored presets of a joined site (for later PTZ)."""
        _, site = self._conference_of(uri, connected=True)
        return site.camera

    # ------------------------------------------------------------------ media engine hooks

    def report_audio_levels(self, conf_id: str, levels: Mapping[str, float]) -> str | None:
        """The media engine reports per-site audio levels (0..100, the switchGate scale).
        The speaking site is the loudest joined, unmuted site at or above the gate, once it
        has been the loudest for speaker_hold seconds (monotonic time); while nobody reaches
        the gate the previous speaker stays. Returns the speaking site."""
        live = self._live.get(conf_id)
        if live is None:
            raise DomainError(Fault.CONFERENCE_NOT_ONGOING, conf_id)
        for uri, level in levels.items():
            site = live.sites.get(uri)
            if site is not None and site.connected:
                live.audio_levels[uri] = level
        candidates = [
            (level, uri)
            for uri, level in live.audio_levels.items()
            if level >= live.switch_gate and not live.sites[uri].muted
        ]
        loudest = max(candidates)[1] if candidates else None
        if loudest is None or loudest == live.speaking:
            self._speaker_candidates.pop(conf_id, None)
            return live.speaking
        # The new loudest site takes over only once it stayed loudest for the hold time, so
        # the speaker does not flicker between two talkers.
        now = time.monotonic()
        candidate, since = self._speaker_candidates.get(conf_id, (None, now))
        if candidate != loudest:
            candidate, since = loudest, now
        if now - since >= self.speaker_hold:
            self._speaker_candidates.pop(conf_id, None)
            live.speaking = loudest
            self.events.emit(SpeakerChanged(live.conf_id, loudest))
        else:
            self._speaker_candidates[conf_id] = (candidate, since)
        return live.speaking

    # ------------------------------------------------------------------ lookups

    @staticmethod
    def _booked_site(live: LiveConference, uri: str) -> LiveSite:
        site = live.sites.get(uri)
        if site is None:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, uri)
        return site

    def _connected_site(self, live: LiveConference, uri: str) -> LiveSite:
        site = self._booked_site(live, uri)
        if not site.connected:
            raise DomainError(Fault.SITE_NOT_CONNECTED, uri)
        return site

    def _all_booked_sites(self, live: LiveConference, uris: Sequence[str]) -> list[LiveSite]:
        if not uris:
            raise DomainError(Fault.MISSING_PARAMETER, "siteUris")
        return [self._booked_site(live, uri) for uri in uris]

    @staticmethod
    def _some_booked_sites(live: LiveConference, uris: Sequence[str]) -> list[LiveSite]:
        """WS/T 546 4.5.15/4.5.16: unknown URIs are skipped, all unknown is an error."""
        if not uris:
            raise DomainError(Fault.MISSING_PARAMETER, "siteUris")
        sites = [live.sites[uri] for uri in dict.fromkeys(uris) if uri in live.sites]
        if not sites:
            raise DomainError(Fault.SITE_NOT_FOUND, ", ".join(uris))
        return sites

    @staticmethod
    def _resolve_target(booked: Collection[str], target: str) -> str:
        target = target.strip()
        if target in ("", "0"):
            return CONFERENCE_TARGET
        if target.startswith("(") and target.endswith(")"):
            uri = target[1:-1]
        elif target in booked:
            uri = target
        elif target.isdigit():
            raise DomainError(Fault.NOT_SUPPORTED, f"CP group {target}: only group 0 exists")
        else:
            uri = target
        if uri not in booked:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, f"target {target}")
        return uri

    def _conference_of(self, uri: str, connected: bool = False) -> tuple[LiveConference, LiveSite]:
        """The ongoing conference a site is booked in (joined first). Operations that only
        name a site (TerminalConfCtr, siteMgr) act there."""
        booked = [live for live in self._live.values() if uri in live.sites]
        if not booked:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, f"{uri} is in no ongoing conference")
        live = next((c for c in booked if c.sites[uri].connected), booked[0])
        site = live.sites[uri]
        if connected and not site.connected:
            raise DomainError(Fault.SITE_NOT_CONNECTED, uri)
        return live, site

    def _device(self, uri: str) -> TerminalDevice:
        """The terminal's own description: from its registration, or from the endpoint that
        answered its call."""
        endpoint = self.registry.lookup(uri)
        if endpoint is None:
            for live in self._live.values():
                site = live.sites.get(uri)
                if site is not None and site.connected and site.call and site.call.endpoint:
                    endpoint = site.call.endpoint
                    break
        if endpoint is None:
            raise DomainError(Fault.SITE_NOT_CONNECTED, f"{uri} is not reachable")
        return endpoint.device
