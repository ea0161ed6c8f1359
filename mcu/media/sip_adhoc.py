"""A SIP room system dialling an ad-hoc template's access code (`sip:<templateCode>@<mcu>`,
mcu/adhoc.py), as a WebRTC terminal's `join` of that code does (mcu/media/webrtc_endpoint.py
`on_join`): the template's conference is booked through the scheduler now when none is
ongoing (or the caller joins the ongoing one, booked into it if it was not), the caller a
dial-in site of it; then the call goes on as any dial-in (mcu/media/sip_dial_in.py).

The caller's site URI: the template's (or the ongoing conference's) site whose URI is the
From address of record `sip:user@host`, that with the From port, or its user part (a
number), as for a booked conference; else a new SIP site (type 7) `sip:user@host[:port]` of
the From URI, named after its display name (else its user part).

The template's password (none: any caller is admitted) must come in the dialled URI after
`*` (`sip:<templateCode>*<password>@<mcu>`): by DTMF it would come after the answer, that is
after a conference was booked for a caller not admitted yet, which the MCU does not do. The
refusals, each a SIP status, change nothing (no conference booked, no site added):

    no password in the URI, or a wrong one      403 "Wrong Password" (a failed attempt of the
                                                dial-in limits, as a WebRTC join's)
    the MCU has no capacity left for it         503 "No Capacity"
    another booking rule refuses it (the site   403 "Refused"
    busy in another conference...)
"""

from __future__ import annotations

from mcu.adhoc import AdhocTemplate
from mcu.attempt_limits import AttemptLimits
from mcu.dial_in_limits import SOCKET, URI
from mcu.errors import DomainError, Fault
from mcu.model import Conference, SiteSpec, SiteType
from mcu.runtime import ConferenceRuntime
from sip.message import Request
from sip.useragent import SipReject


def admit_adhoc(runtime: ConferenceRuntime, limits: AttemptLimits, template: AdhocTemplate,
                request: Request, candidates: list[str], password: str | None,
                keys: dict[str, str]) -> tuple[Conference, str] | SipReject:
    """The conference the caller joins and its site URI in it, the conference started (and
    running) when it was not; or the refusal. `candidates`: the caller's URI forms (address
    of record, with the port, the number); `password`: the one in the URI, None without."""
    if template.password and password != template.password:
        limits.failed(keys)
        return SipReject(403, "Wrong Password")
    limits.succeeded({SOCKET: keys[SOCKET], URI: keys[URI]})
    spec = _caller_site(runtime, template, request, candidates)
    adhoc = runtime.adhoc
    assert adhoc is not None  # the template came from it
    try:
        conference = adhoc.admit(template.access_code, spec)
    except DomainError as error:
        if error.fault is Fault.CAPACITY_EXCEEDED:
            return SipReject(503, "No Capacity")
        return SipReject(403, "Refused")
    runtime.reconcile()  # the conference is live now (its media too)
    return conference, spec.uri


def _caller_site(runtime: ConferenceRuntime, template: AdhocTemplate, request: Request,
                 candidates: list[str]) -> SiteSpec:
    """The caller as a site: one the template or the ongoing conference books, else new."""
    booked = [site.uri for site in template.sites]
    adhoc = runtime.adhoc
    ongoing = adhoc.ongoing(template.access_code) if adhoc is not None else None
    if ongoing is not None:
        live = runtime.conferences.get(ongoing.conf_id)
        booked += list(live.sites) if live is not None else []
    for uri in candidates:
        if uri and uri in booked:
            return SiteSpec(uri, type=SiteType.SIP)
    caller = request.from_
    uri = candidates[1] or candidates[0]
    return SiteSpec(uri, name=caller.display or caller.uri.user or uri, type=SiteType.SIP)
