"""eSDK operations beyond the reference WSDL (gateway/wire.py EXTENSION_OPERATIONS).

eSDK clients call them and the reference examples include them, so every endpoint answers
them (dispatch is by body element); no served WSDL lists them, so the served WSDLs stay
exactly the reference's.

- querySitesByConditionEx: eSDK's later name for the site directory query; the same
  filters, sort and paging as querySitesInfoEx (gateway/directory_query.py), answered as
  SiteInfoEx items (name, uri, type, rate and the video capability) as the eSDK example.
"""

from __future__ import annotations

from gateway import convert
from gateway.directory_query import query_directory
from gateway.soap import GatewayService, Reply, operation, request_context


class EsdkExtensionService(GatewayService):
    @operation("querySitesByConditionEx")
    def querySitesByConditionEx(ctx, queryConfig):  # noqa: N802, N803
        gateway = request_context(ctx).gateway
        page = query_directory(gateway.scheduler.directory(), queryConfig, gateway.numbering)
        return Reply(
            siteInfos=[
                convert.directory_site_to_wire(site, gateway.numbering) for site in page.sites
            ],
            pageInfo=convert.page_info_to_wire(page),
        )
