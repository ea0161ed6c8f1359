"""TPProfessional.ConfMgr (WS/T 546 4.5, /services/confMgr): booking through the scheduler,
calls and statuses through the live runtime.

Every method converts (gateway/convert.py), calls mcu, converts back; refusals are
DomainErrors that GatewayService turns into result codes, and change nothing. After any
booking change `_booking_changed` brings the live runtime in line at once, so a conference
booked to begin now is ongoing in the very next query and a deleted one ends.

Decisions where the standard is silent:
- queryConferencesStatusEx without confIds (the WSDL allows 0) answers every conference the
  scheduler holds (not deleted), in id order; an unknown id answers status 1 (not exist).
- synchSiteStatusEx remembers, per session and per site URI, the scheduler revision it last
  answered: the first call of a session for a site returns everything in the window (since
  revision 0), later calls only what changed since (busy entries changed, FREE tombstones
  with the conference id for entries that went away). Sites without changes are left out
  of the answer (the eSDK example answers an unchanged set with resultCode alone).
- editRecurrenceConferenceEx with beginTime edits that one occurrence (name, begin,
  duration, sites; the rule members are then not used); without it the whole series from
  now on. On a plain conference it turns the booking into a series.
- Passwords may come in clear (6 digits, the standard), RSA-encrypted with the key of
  getPublicKey, or AES-encrypted with the key the session set with setSecretKey (eSDK
  clients); see gateway/password_key.py and gateway/session_crypto.py.
- A booking without cpResouce gets the setting mcu.default_cp_resource.
- addSiteToConfEx answers the access info of every site of the occurrences it changed (the
  eSDK example lists all sites, the new one last).
- Ad-hoc templates (mcu/adhoc.py, the settings' [[adhoc]] tables): queryAdhocConferencesEx
  filters, sorts and pages them like the site directory (columns 0 name, 1
  confAccessCode); queryAdhocConfFreeBusyEx answers, per access code, the conferences
  started from the template (busy), one FREE state over the window when there are none,
  state 2 (unknown) for a code of no template. synchAdhocConfFreeBusyEx keeps its cursor
  per session and code as synchSiteStatusEx does and answers the same changes; since the
  WSDL requires at least one entry per code answered and per answer, a code with no
  change since the session's last synch is answered with its current free/busy (nothing
  in it is news, and nothing is false).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from gateway import convert, session_crypto
from gateway.convert import site_uris
from gateway.directory_query import query_templates
from gateway.services.common import runtime_of
from gateway.signalling import with_registered_terminals
from gateway.soap import GatewayService, Reply, RequestContext, operation, request_context
from mcu import ownership
from mcu.cdr import RecordPage
from mcu.errors import DomainError, Fault
from mcu.model import BusyInterval, Conference, ConferenceSpec, ConferenceState
from mcu.ownership import Actor
from mcu.runtime.status import ConferenceStatus

# Attribute of the gateway Session holding the synchSiteStatusEx cursors (uri -> revision):
# it lives and dies with the session.
_SYNCH_CURSORS = "synch_site_revisions"
# the same for synchAdhocConfFreeBusyEx (template access code -> revision)
_ADHOC_SYNCH_CURSORS = "synch_adhoc_revisions"

Changes = Callable[[list[str], datetime, timedelta, int], dict[str, list[BusyInterval]]]


def _synch(
    call: RequestContext,
    keys: list[str],
    window: tuple[datetime, timedelta],
    cursor_attribute: str,
    changes: Changes,
) -> dict[str, list[BusyInterval]]:
    """What changed for each key since this session last synchronised it (since revision 0
    the first time), in the order asked; the session's cursors move to the revision read
    before answering, so a change committed meanwhile is reported next time."""
    cursors: dict[str, int] = getattr(call.session, cursor_attribute, None) or {}
    revision = call.gateway.scheduler.revision()
    answer: dict[str, list[BusyInterval]] = {}
    for since in sorted({cursors.get(key, 0) for key in keys}):
        group = [key for key in keys if cursors.get(key, 0) == since]
        answer.update(changes(group, *window, since))
    cursors.update(dict.fromkeys(keys, revision))
    setattr(call.session, cursor_attribute, cursors)
    return {key: answer[key] for key in keys}


def _booking_changed(call: RequestContext) -> None:
    """The one place booking changes reach the live runtime."""
    runtime = call.gateway.runtime
    if runtime is not None:
        runtime.reconcile()


def _creator(call: RequestContext) -> str:
    """Who books: the account of the request's authenticated session."""
    return call.session.user if call.session is not None else ""


def _conf_id(value: str | None) -> str:
    conf_id = convert.text(value)
    if conf_id is None:
        raise DomainError(Fault.MISSING_PARAMETER, "confId")
    return conf_id


def _status_code(call: RequestContext, conference: Conference) -> int:
    state, _ = call.gateway.scheduler.state(conference.conf_id)
    return int(state)


def _window(begin: datetime, duration: timedelta | None) -> tuple[datetime, timedelta]:
    convert.require_aware(begin, "beginTime")
    if duration is None or duration <= timedelta(0):
        raise DomainError(Fault.BAD_TIME, "duration must be positive")
    return begin, duration


def _conference_spec(call: RequestContext, info) -> ConferenceSpec:
    """The booking asked for: the settings' cpResouce when none is given, and passwords
    encrypted by eSDK clients decrypted: RSA with our getPublicKey key
    (gateway/password_key.py), AES with the session's setSecretKey key or the older SDKs'
    fixed one (gateway/session_crypto.py)."""
    gateway = call.gateway
    spec = convert.conference_spec(info, gateway.numbering, gateway.settings.default_cp_resource)
    cipher = call.session.cipher if call.session is not None else None
    fixed = gateway.settings.accept_fixed_sdk_key

    def reveal(value: str | None) -> str | None:
        return session_crypto.reveal_password(value, cipher, fixed, gateway.password_key)

    return replace(
        spec, password=reveal(spec.password), chairman_password=reveal(spec.chairman_password)
    )


def _conference_reply(call: RequestContext, conference: Conference, recurring: bool) -> Reply:
    """A booking's answer with the conference's state now: conferenceInfo, or
    recurrenceConfInfo for the recurrence operations."""
    numbering = call.gateway.numbering
    status = _status_code(call, conference)
    if recurring:
        info = convert.recurrence_info_to_wire(conference, numbering, status)
        return Reply(recurrenceConfInfo=info)
    return Reply(conferenceInfo=convert.conference_info_to_wire(conference, numbering, status))


def _actor(call: RequestContext) -> Actor:
    """Who the request acts for (GatewayService.call_wrapper let only a session through)."""
    if call.session is None:
        raise RuntimeError("a conference operation without a session")
    return call.session.actor


def _visible_ids(call: RequestContext) -> frozenset[str] | None:
    """The conferences whose call records the account may read (None: all, an admin)."""
    return ownership.visible_ids(call.gateway.scheduler, _actor(call))


def _readable(
    call: RequestContext, answer: dict[str, list[BusyInterval]]
) -> dict[str, list[BusyInterval]]:
    """A free/busy answer without the names of conferences the account may not see."""
    return ownership.without_foreign_names(call.gateway.scheduler, _actor(call), answer)


def _cdr_reply(
    query_config: Any,
    query: Callable[..., RecordPage],
    uri: str | None,
    conf_ids: frozenset[str] | None,
    to_wire: Callable[[Any], Any],
) -> Reply:
    """A CDR query's answer: the records of the window and page (mcu/cdr.py) of `uri`, of
    the conferences `conf_ids` when given (an operator's own)."""
    begin, duration, per_page, page = convert.cdr_window(query_config)
    answer = query(begin, duration, uri, per_page, page, conf_ids)
    return Reply(
        cdr=[to_wire(record) for record in answer.records],
        pageInfo=convert.page_info_to_wire(answer),
    )


class ConfMgrService(GatewayService):
    # -- booking -------------------------------------------------------------------------

    @operation("scheduleConfEx")
    def scheduleConfEx(ctx, scheduleConf):  # noqa: N802, N803 - wire names
        call = request_context(ctx)
        spec = _conference_spec(call, scheduleConf)
        conference = call.gateway.scheduler.schedule(spec, creator=_creator(call))
        _booking_changed(call)
        return _conference_reply(call, conference, recurring=False)

    @operation("scheduleRecurrenceConferenceEx")
    def scheduleRecurrenceConferenceEx(ctx, scheduleConf):  # noqa: N802, N803
        call = request_context(ctx)
        spec = _conference_spec(call, scheduleConf)
        rule = convert.recurrence_rule(scheduleConf)
        conference = call.gateway.scheduler.schedule_recurrence(
            spec, rule, creator=_creator(call)
        )
        _booking_changed(call)
        return _conference_reply(call, conference, recurring=True)

    @operation("editScheduledConfEx")
    def editScheduledConfEx(ctx, editConf):  # noqa: N802, N803
        call = request_context(ctx)
        conf_id = _conf_id(editConf.confId)
        spec = _conference_spec(call, editConf)
        conference = call.gateway.scheduler.edit(conf_id, spec)
        _booking_changed(call)
        return _conference_reply(call, conference, recurring=False)

    @operation("editRecurrenceConferenceEx")
    def editRecurrenceConferenceEx(ctx, editConf, beginTime):  # noqa: N802, N803
        call = request_context(ctx)
        conf_id = _conf_id(editConf.confId)
        spec = _conference_spec(call, editConf)
        scheduler = call.gateway.scheduler
        if beginTime is not None:
            convert.require_aware(beginTime, "beginTime")
            current = scheduler.get(conf_id)
            rule = current.recurrence
            if rule is None:
                raise DomainError(Fault.OCCURRENCE_NOT_FOUND, f"{conf_id} is not recurring")
        else:
            rule = convert.recurrence_rule(editConf)
        conference = scheduler.edit_recurrence(conf_id, spec, rule, beginTime)
        _booking_changed(call)
        return _conference_reply(call, conference, recurring=True)

    @operation("prolongScheduledConfEx")
    def prolongScheduledConfEx(ctx, confId, beginDate, prolongTime):  # noqa: N802, N803
        call = request_context(ctx)
        convert.require_aware(beginDate, "beginDate")
        call.gateway.scheduler.prolong(_conf_id(confId), prolongTime, beginDate)
        _booking_changed(call)
        return Reply()

    @operation("addSiteToConfEx")
    def addSiteToConfEx(ctx, confId, siteInfo, beginTime):  # noqa: N802, N803
        call = request_context(ctx)
        site = convert.site_to_domain(siteInfo, call.gateway.numbering)
        convert.require_aware(beginTime, "beginTime")
        scheduler = call.gateway.scheduler
        conf_id = _conf_id(confId)
        conference = scheduler.add_site(conf_id, site, beginTime)
        _booking_changed(call)
        now = call.gateway.clock.now()
        changed = [
            occurrence
            for occurrence in conference.occurrences
            if (
                occurrence.begin == beginTime.replace(microsecond=0)
                if beginTime is not None
                else occurrence.end > now
            )
        ]
        return Reply(siteAccessInfos=convert.site_access_infos(conference, changed))

    @operation("delSiteFromConfEx")
    def delSiteFromConfEx(ctx, confId, siteUri, beginTime):  # noqa: N802, N803
        call = request_context(ctx)
        convert.require_aware(beginTime, "beginTime")
        uri = convert.text(siteUri)
        if uri is None:
            raise DomainError(Fault.MISSING_PARAMETER, "siteUri")
        call.gateway.scheduler.remove_site(_conf_id(confId), uri, beginTime)
        _booking_changed(call)
        return Reply()

    @operation("delScheduledConfEx")
    def delScheduledConfEx(ctx, confId, beginTime):  # noqa: N802, N803
        call = request_context(ctx)
        convert.require_aware(beginTime, "beginTime")
        call.gateway.scheduler.delete(_conf_id(confId), beginTime)
        _booking_changed(call)
        return Reply()

    # -- directory and free/busy -------------------------------------------------------------

    @operation("querySitesEx")
    def querySitesEx(ctx):  # noqa: N802
        call = request_context(ctx)
        numbering = call.gateway.numbering
        directory = with_registered_terminals(call.gateway.scheduler.directory(), call.gateway.runtime)
        sites = [convert.directory_site_to_wire(site, numbering) for site in directory]
        return Reply(siteInfos=sites)

    @operation("querySiteStatusEx")
    def querySiteStatusEx(ctx, siteUris, beginTime, duration):  # noqa: N802, N803
        call = request_context(ctx)
        uris = site_uris(siteUris)
        window = _window(beginTime, duration)
        answer = _readable(call, call.gateway.scheduler.free_busy(uris, *window))
        return Reply(siteFreeBusyStates=convert.site_free_busy_to_wire(answer, window))

    @operation("synchSiteStatusEx")
    def synchSiteStatusEx(ctx, siteUris, beginTime, duration):  # noqa: N802, N803
        call = request_context(ctx)
        uris = site_uris(siteUris)
        window = _window(beginTime, duration)
        ordered = _readable(
            call, _synch(call, uris, window, _SYNCH_CURSORS, call.gateway.scheduler.changes))
        states = convert.site_free_busy_to_wire(ordered, window, changes_only=True)
        return Reply(siteFreeBusyStates=states)

    # -- ad-hoc conference templates -----------------------------------------------------------

    @operation("queryAdhocConferencesEx")
    def queryAdhocConferencesEx(ctx, queryConfig):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        page = query_templates(gateway.adhoc.templates(), queryConfig, gateway.numbering)
        return Reply(
            adhocConferences=[convert.adhoc_conference_to_wire(t) for t in page.rows],
            pageInfo=convert.page_info_to_wire(page),
        )

    @operation("queryAdhocConfFreeBusyEx")
    def queryAdhocConfFreeBusyEx(ctx, confAccessCodes, beginTime, duration):  # noqa: N802, N803
        call = request_context(ctx)
        codes = site_uris(confAccessCodes, "confAccessCodes")
        window = _window(beginTime, duration)
        answer = _readable(call, call.gateway.adhoc.free_busy(codes, *window))
        return Reply(freebusy=convert.adhoc_free_busy_to_wire(answer, window))

    @operation("synchAdhocConfFreeBusyEx")
    def synchAdhocConfFreeBusyEx(ctx, confAccessCodes, beginTime, duration):  # noqa: N802, N803
        call = request_context(ctx)
        codes = site_uris(confAccessCodes, "confAccessCodes")
        window = _window(beginTime, duration)
        adhoc = call.gateway.adhoc
        answer = _synch(call, codes, window, _ADHOC_SYNCH_CURSORS, adhoc.changes)
        unchanged = [code for code, changed in answer.items() if not changed]
        if unchanged:  # answered with their current free/busy (module docstring)
            answer.update(adhoc.free_busy(unchanged, *window))
        answer = _readable(call, answer)
        return Reply(freebusy=convert.adhoc_free_busy_to_wire(answer, window))

    # -- live conferences --------------------------------------------------------------------

    @operation("queryConferencesStatusEx")
    def queryConferencesStatusEx(ctx, confIds):  # noqa: N802, N803
        call = request_context(ctx)
        scheduler, actor = call.gateway.scheduler, _actor(call)
        ids = [conf_id for conf_id in (convert.text(value) for value in confIds or []) if conf_id]
        if not confIds:  # every conference the account may see (mcu/ownership.py)
            ids = [c.conf_id for c in ownership.visible(actor, scheduler.conferences())]
        status = runtime_of(ctx).status
        statuses = [
            status.conference_status(conf_id)
            if ownership.permitted(scheduler, actor, conf_id)
            else ConferenceStatus(conf_id, "", ConferenceState.NO_PERMISSION, None, None)
            for conf_id in dict.fromkeys(ids)
        ]
        now = call.gateway.clock.now()
        return Reply(
            conferenceStatuses=[
                convert.conference_status_to_wire(status, now) for status in statuses
            ]
        )

    @operation("queryConfSitesStatusEx")
    def queryConfSitesStatusEx(ctx, confId, siteUris):  # noqa: N802, N803
        uris = site_uris(siteUris, may_be_empty=True)
        statuses = runtime_of(ctx).status.site_statuses(_conf_id(confId), uris)
        return Reply(siteStatuses=[convert.site_status_to_wire(status) for status in statuses])

    @operation("connectSitesEx")
    def connectSitesEx(ctx, confId, siteUris):  # noqa: N802, N803
        # asynchronous (4.2.3): 0 means the calls were placed; their outcome shows in
        # queryConfSitesStatusEx (calling, then in conference or not joined with a reason)
        runtime_of(ctx).lifecycle.connect_sites(_conf_id(confId), site_uris(siteUris))
        return Reply()

    @operation("disconnectSitesEx")
    def disconnectSitesEx(ctx, confId, siteUris):  # noqa: N802, N803
        runtime_of(ctx).lifecycle.disconnect_sites(_conf_id(confId), site_uris(siteUris))
        return Reply()

    @operation("getContinuousPresenceInfoEx")
    def getContinuousPresenceInfoEx(ctx, confId):  # noqa: N802, N803
        info = runtime_of(ctx).status.cp_info(_conf_id(confId))
        return Reply(
            targets=list(info.targets),
            cpResource=info.cp_resource,
            supportCPModes=list(info.supported_modes),
        )

    @operation("getContinuousPresenceParamEx")
    def getContinuousPresenceParamEx(ctx, confId, target):  # noqa: N802, N803
        setting = runtime_of(ctx).status.cp_param(_conf_id(confId), target or "")
        return Reply(presenceMode=setting.mode, subPics=list(setting.sub_pics) or None)

    # -- call detail records (mcu/cdr.py) ----------------------------------------------------

    @operation("queryMultiPointCDREx")
    def queryMultiPointCDREx(ctx, queryConfig):  # noqa: N802, N803
        records = runtime_of(ctx).call_records
        uri = convert.text(queryConfig.siteUri)
        visible = _visible_ids(request_context(ctx))
        return _cdr_reply(queryConfig, records.multipoint, uri, visible,
                          convert.multipoint_cdr_to_wire)

    @operation("queryPointToPointCDREx")
    def queryPointToPointCDREx(ctx, queryConfig):  # noqa: N802, N803
        records = runtime_of(ctx).call_records
        uri = convert.cdr_end_point(queryConfig.endPoint)
        visible = _visible_ids(request_context(ctx))
        return _cdr_reply(
            queryConfig, records.point_to_point, uri, visible, convert.point_to_point_cdr_to_wire
        )

    # -- MCUs ----------------------------------------------------------------------------------

    @operation("queryConfSiteMCUEx")
    def queryConfSiteMCUEx(ctx, confId, siteUris, beginTime):  # noqa: N802, N803
        # the occurrence at beginTime (OCCURRENCE_NOT_FOUND when none begins then), else the
        # one running now or the next; no siteUris: every site booked in it
        call = request_context(ctx)
        conf_id = _conf_id(confId)
        uris = site_uris(siteUris, may_be_empty=True)
        convert.require_aware(beginTime, "beginTime")
        scheduler = call.gateway.scheduler
        conference = scheduler.get(conf_id)
        occurrence = scheduler.occurrence(conf_id, beginTime)
        served = call.gateway.mcus.serving_sites(conference, occurrence, uris)
        return Reply(mcus=convert.site_mcus_to_wire(served))
