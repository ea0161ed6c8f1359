"""The organization tree: the organizations sites belong to (queryOrganizationEx,
addSiteInfoEx's orgId).

The tree comes from the settings file (`[[organizations]]`, gateway/defaults.toml holds a
default of one organization); it is configuration, not data clients change, so it is not
in the store. A directory site keeps the id of its organization (mcu/store.py).

An organization names its parent by id (none for a root). `in_tree_order()` lists the
tree depth first, every parent before its children, siblings in the order given: the wire
(OrganizationItemEx: id and name) carries no parent, so the order is how the tree shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mcu.errors import DomainError, Fault

MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    parent_id: str | None = None


DEFAULT_ORGANIZATIONS: tuple[Organization, ...] = (Organization("1", "Telemedicine centre"),)


class OrganizationTree:
    """A checked tree: ids unique and not blank, names not blank and at most 64 characters,
    sibling names distinct, every parent known, no cycle, at least one organization.
    A tree that breaks a rule raises ValueError (a settings error, found at start)."""

    def __init__(self, organizations: Iterable[Organization]) -> None:
        given = list(organizations)
        if not given:
            raise ValueError("at least one organization is needed")
        by_id: dict[str, Organization] = {}
        for organization in given:
            if not organization.id.strip():
                raise ValueError("an organization needs an id")
            if not organization.name.strip() or len(organization.name) > MAX_NAME_LENGTH:
                raise ValueError(
                    f"organization {organization.id!r}: a name of 1..{MAX_NAME_LENGTH} characters"
                )
            if organization.id in by_id:
                raise ValueError(f"organization id {organization.id!r} given twice")
            by_id[organization.id] = organization
        children: dict[str | None, list[Organization]] = {}
        for organization in given:
            if organization.parent_id is not None and organization.parent_id not in by_id:
                raise ValueError(
                    f"organization {organization.id!r}: parent {organization.parent_id!r} unknown"
                )
            siblings = children.setdefault(organization.parent_id, [])
            if any(sibling.name == organization.name for sibling in siblings):
                raise ValueError(f"two organizations named {organization.name!r} under one parent")
            siblings.append(organization)
        ordered: list[Organization] = []

        def visit(parent: str | None) -> None:
            for child in children.get(parent, []):
                ordered.append(child)
                visit(child.id)

        visit(None)
        if len(ordered) != len(given):
            cyclic = sorted(set(by_id) - {organization.id for organization in ordered})
            raise ValueError(f"organizations {cyclic} form a cycle (no root above them)")
        self._by_id = by_id
        self._ordered = tuple(ordered)

    def in_tree_order(self) -> tuple[Organization, ...]:
        return self._ordered

    def get(self, org_id: str) -> Organization:
        organization = self._by_id.get(org_id)
        if organization is None:
            raise DomainError(Fault.ORGANIZATION_NOT_FOUND, org_id)
        return organization

    def require(self, org_id: str | None) -> str:
        """The id of a known organization, trimmed: MISSING_PARAMETER when blank,
        ORGANIZATION_NOT_FOUND when unknown."""
        if org_id is None or not org_id.strip():
            raise DomainError(Fault.MISSING_PARAMETER, "orgId")
        return self.get(org_id.strip()).id
