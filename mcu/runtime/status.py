"""What the status queries answer: queryConferencesStatusEx, queryConfSitesStatusEx,
getContinuousPresenceInfoEx, getContinuousPresenceParamEx and queryConfCtrlPwdEx.

Ongoing conferences answer from their live state; a scheduled (or ended) one answers from
its booking, its booked sites not joined. Values are domain values: flags are bools and
"no value" is None; the gateway (gateway/convert.py) maps them to the wire conventions
each record's docstring names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from mcu.cdr import NegotiatedMedia
from mcu.errors import DomainError, Fault
from mcu.events import ErrorInfo
from mcu.live_conference import (
    CONFERENCE_TARGET,
    CP_MODES,
    CpSetting,
    LiveConference,
    LiveSite,
    cp_pane_count,
)
from mcu.model import ConferenceState, SiteCallState, SiteType
from mcu.runtime.live_conferences import LiveConferences, resolve_target


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
    # what the call's media negotiated (codecs, format, profile, encryption), while in
    # conference; the wire's SiteStatusEx has no member for it (the CDR keeps it after)
    media: NegotiatedMedia | None = None


@dataclass(frozen=True)
class CpInfo:
    """getContinuousPresenceInfoEx: targets accepted by setContinuousPresenceEx ("0" and
    "(uri)" per booked site), the conference's cpResouce and the modes that fit in it."""

    targets: tuple[str, ...]
    cp_resource: int
    supported_modes: tuple[int, ...]


class StatusQueries:
    def __init__(self, conferences: LiveConferences) -> None:
        self.conferences = conferences
        self.scheduler = conferences.scheduler

    def conference_statuses(self, conf_ids: Iterable[str]) -> list[ConferenceStatus]:
        """queryConferencesStatusEx: one status per id, NOT_EXIST for unknown ids."""
        return [self.conference_status(conf_id) for conf_id in conf_ids]

    def content_sender(self, conf_id: str) -> str | None:
        """The site sending the conference's content stream, or None (content_sender())."""
        return content_sender(self.conferences.running(conf_id))

    def conference_status(self, conf_id: str) -> ConferenceStatus:
        try:
            state, occurrence = self.scheduler.state(conf_id)
        except DomainError as error:
            if error.fault is Fault.CONFERENCE_NOT_FOUND:
                return ConferenceStatus(conf_id, "", ConferenceState.NOT_EXIST, None, None)
            raise
        if state is ConferenceState.ONGOING:
            try:
                live = self.conferences.running(conf_id)
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
        live = self.conferences.running(conf_id) if state is ConferenceState.ONGOING else None
        if live is not None:
            wanted = list(uris) or list(live.sites)
            return [live_site_status(live.sites.get(uri), uri) for uri in wanted]
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

    def state_counts(self) -> tuple[dict[ConferenceState, int], dict[SiteCallState, int]]:
        """(conferences by state, sites of the ongoing ones by call state), as
        queryConferencesStatusEx and queryConfSitesStatusEx answer them now, over every
        conference the scheduler holds (the metrics' gauges)."""
        conferences = dict.fromkeys(ConferenceState, 0)
        sites = dict.fromkeys(SiteCallState, 0)
        for conference in self.scheduler.conferences():
            try:
                status = self.conference_status(conference.conf_id)
                conferences[status.state] += 1
                if status.state is ConferenceState.ONGOING:
                    for site in self.site_statuses(conference.conf_id):
                        sites[site.state] += 1
            except DomainError:  # deleted or ended between the listing and the query
                continue
        return conferences, sites

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
            resolve_target({spec.uri for spec in occurrence.sites}, target)
            return CpSetting()
        live = self.conferences.running(conf_id)
        resolved = resolve_target(live.sites.keys(), target)
        return live.layouts.get(resolved) or live.layouts.get(CONFERENCE_TARGET) or CpSetting()

    def has_chair_password(self, uri: str) -> bool:
        """queryConfCtrlPwdEx: whether the site's conference has a chairman password."""
        live, _ = self.conferences.conference_of(uri)
        return bool(live.conference.chairman_password)


def live_site_status(site: LiveSite | None, uri: str) -> SiteStatus:
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
        media=site.call.media if connected and site.call is not None else None,
    )


def content_sender(live: LiveConference) -> str | None:
    """The site whose content (aux) stream the conference sends to the others: the content
    floor's holder. isSendAuxStreamEx and isReceiveRemAuxStrmEx answer from this one place
    (the media plane may refine it to "holds the floor and its content track is flowing")."""
    return live.presentation
