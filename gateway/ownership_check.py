"""The conference a SOAP request acts on, handed to the ownership rule (mcu/ownership.py)
before the operation runs: the one place every operation of every endpoint is checked.

A request names its conference by one of its top-level members, whatever the operation
(so an operation added later is covered by its members, not by a list to keep up):
- `confId`: that conference (trimmed as the services trim it);
- `editConf`: its `confId`;
- `siteUri` without a `confId` (TerminalConfCtr and the siteMgr device operations): the
  ongoing conference that site is in, which is where those operations act; a site in no
  ongoing conference names none, and the operation answers as it always does.
queryConferencesStatusEx (`confIds`) and the CDR queries are listings: their services
answer status 4 or filter with the same rule (gateway/services/conf_mgr.py).
A refusal raises DomainError(NO_PERMISSION) before the operation changes anything.
"""

from __future__ import annotations

from typing import Any

from mcu import ownership
from mcu.errors import DomainError
from mcu.ownership import Actor
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler


def named_conferences(request: Any, runtime: ConferenceRuntime | None) -> set[str]:
    """The ids of the conferences `request` (spyne's in_object) acts on."""
    conf_id = getattr(request, "confId", None)
    edit = getattr(request, "editConf", None)
    if edit is not None:
        conf_id = getattr(edit, "confId", None)
    if isinstance(conf_id, str):
        return {conf_id.strip()}
    site_uri = getattr(request, "siteUri", None)
    if isinstance(site_uri, str) and runtime is not None:
        named = set()
        for uri in {site_uri, site_uri.strip()}:
            try:
                live, _ = runtime.conferences.conference_of(uri)
            except DomainError:  # in no ongoing conference: nothing to own
                continue
            named.add(live.conf_id)
        return named
    return set()


def check(
    request: Any, actor: Actor, scheduler: Scheduler, runtime: ConferenceRuntime | None
) -> None:
    """NO_PERMISSION when `actor` may not act on a conference `request` names."""
    if actor.is_admin:
        return
    for conf_id in sorted(named_conferences(request, runtime)):
        ownership.require(scheduler, actor, conf_id)
