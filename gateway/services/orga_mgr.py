"""TPProfessional.OrgaMgr: the organization tree (mcu/organizations.py, from the settings
file), served at /services/orgaMgr and /esdk/services/tpProfessionalOrgaMgr.

queryOrganizationEx takes no parameter and answers every organization, depth first with
each parent before its children (OrganizationItemEx has no parent member). The sites of an
organization are found with the site directory query: querySitesInfoEx filters and sorts
on column 6, orgId (gateway/directory_query.py).
"""

from __future__ import annotations

from gateway import convert
from gateway.soap import GatewayService, Reply, operation, request_context


class OrgaMgrService(GatewayService):
    """TPProfessional.OrgaMgr."""

    @operation("queryOrganizationEx")
    def queryOrganizationEx(ctx):  # noqa: N802 - wire name
        organizations = request_context(ctx).gateway.organizations
        return Reply(orgs=convert.organizations_to_wire(organizations.in_tree_order()))
