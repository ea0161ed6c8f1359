"""Who may see and act on a conference: the one ownership rule (docs/gateway.md, "Ownership
and roles").

An account has a role. An `ADMIN` sees and controls every conference. An `OPERATOR` sees and
controls only the conferences it scheduled: those whose `Conference.creator` is its name.
A conference with no account as owner belongs to administrators only: one started by a
terminal dialling an ad-hoc template (its creator is the template's name, which is no
account even when it is spelled like one) and one stored before creators were kept (creator
"").

The gateway asks `require` before any operation that names a conference (by id, or by a
site in an ongoing conference: gateway/ownership_check.py), `permitted` for the status of
each id asked, `visible` / `visible_ids` for the listings and call records, and
`without_foreign_names` for free/busy answers; a refusal is `Fault.NO_PERMISSION` and
happens before the operation changes anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from mcu.errors import DomainError, Fault
from mcu.model import BusyInterval, Conference
from mcu.scheduler import Scheduler


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"


ROLES = tuple(role.value for role in Role)


@dataclass(frozen=True)
class Actor:
    """The account a request acts for."""

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def owns(actor: Actor, conference: Conference) -> bool:
    """Whether `actor` may see and act on `conference` (module docstring)."""
    return _owns(actor, conference.creator, conference.adhoc_template is not None)


def _owns(actor: Actor, creator: str, adhoc: bool) -> bool:
    if actor.is_admin:
        return True
    return not adhoc and creator != "" and creator == actor.name


def permitted(scheduler: Scheduler, actor: Actor, conf_id: str) -> bool:
    """False only for a conference the scheduler holds that `actor` does not own; an unknown
    or deleted id is permitted, so the operation answers it as it answers any unknown id."""
    if actor.is_admin:
        return True
    try:
        conference = scheduler.get(conf_id)
    except DomainError as error:
        if error.fault is Fault.CONFERENCE_NOT_FOUND:
            return True
        raise
    return owns(actor, conference)


def require(scheduler: Scheduler, actor: Actor, conf_id: str) -> None:
    """Raise NO_PERMISSION when `actor` may not act on conference `conf_id`."""
    if not permitted(scheduler, actor, conf_id):
        raise DomainError(
            Fault.NO_PERMISSION, f"{actor.name} ({actor.role}) does not own conference {conf_id}"
        )


def visible(actor: Actor, conferences: Iterable[Conference]) -> list[Conference]:
    """The conferences of `conferences` that `actor` may see, in their order."""
    return [conference for conference in conferences if owns(actor, conference)]


def visible_ids(scheduler: Scheduler, actor: Actor) -> frozenset[str] | None:
    """The ids of the conferences `actor` may see, deleted ones included (their call
    records outlive them); None for every conference (an admin)."""
    if actor.is_admin:
        return None
    return frozenset(
        conf_id
        for conf_id, (creator, adhoc) in scheduler.conference_owners().items()
        if _owns(actor, creator, adhoc)
    )


def without_foreign_names(
    scheduler: Scheduler, actor: Actor, answer: Mapping[str, list[BusyInterval]]
) -> dict[str, list[BusyInterval]]:
    """A free/busy answer as `actor` may read it: a site's busy time is everyone's to see
    (booking needs it), but the name of a conference the actor may not see is left out;
    its id stays (it is what a later FREE entry of a synch refers to)."""
    visible = visible_ids(scheduler, actor)
    if visible is None:
        return dict(answer)
    return {
        key: [
            entry if entry.conf_id is None or entry.conf_id in visible
            else replace(entry, conf_name=None)
            for entry in entries
        ]
        for key, entries in answer.items()
    }
