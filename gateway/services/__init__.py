"""The SOAP services and the endpoints that serve them.

Each endpoint (WS/T 546 path and eSDK path) has the services whose operations its WSDL
lists; the TerminalConfCtr port's operations belong to confCtrl, as in the eSDK. A POST
to any endpoint is dispatched by its body element over *all* services, because
integrators often point every call at one URL; only the served WSDL differs by endpoint.

A service module adds itself by appending its class to the endpoint's list below.
EXTENSION_SERVICES hold eSDK operations outside the reference WSDL: dispatched like every
other operation, listed in no served WSDL.
"""

from __future__ import annotations

from dataclasses import dataclass

from spyne import ServiceBase

from gateway.services.common import CommonService
from gateway.services.conf_ctrl import ConfCtrlService
from gateway.services.conf_mgr import ConfMgrService
from gateway.services.esdk_extensions import EsdkExtensionService
from gateway.services.mcu_mgr import McuMgrService
from gateway.services.orga_mgr import OrgaMgrService
from gateway.services.platform_key import PlatformKeyService
from gateway.services.site_mgr import SiteMgrService
from gateway.wire import ESDK_PLATFORM_NS, TNS


@dataclass(frozen=True)
class Endpoint:
    name: str  # WS/T 546 name
    paths: tuple[str, ...]
    services: tuple[type[ServiceBase], ...]
    namespace: str = TNS  # targetNamespace of its served WSDL


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("common", ("/services/common", "/esdk/services/tpCommon"), (CommonService,)),
    Endpoint(
        "confMgr",
        ("/services/confMgr", "/esdk/services/tpProfessionalConfMgr"),
        (ConfMgrService,),
    ),
    Endpoint(
        "confCtrl",
        ("/services/confCtrl", "/esdk/services/tpProfessionalConfCtrl"),
        (ConfCtrlService,),
    ),
    Endpoint(
        "siteMgr", ("/services/siteMgr", "/esdk/services/tpProfessionalSiteMgr"), (SiteMgrService,)
    ),
    # the eSDK platform key service: not in the reference WSDL nor in WS/T 546 (eSDK path
    # only); its WSDL is ours, in the esdk_platform namespace
    Endpoint(
        "platformKeyMgr",
        ("/esdk/services/platformKeyMgr",),
        (PlatformKeyService,),
        namespace=ESDK_PLATFORM_NS,
    ),
    # ports of the reference WSDL that no public client names a URL for: our choice
    Endpoint(
        "mcuMgr", ("/services/mcuMgr", "/esdk/services/tpProfessionalMCUMgr"), (McuMgrService,)
    ),
    Endpoint(
        "orgaMgr", ("/services/orgaMgr", "/esdk/services/tpProfessionalOrgaMgr"), (OrgaMgrService,)
    ),
)


EXTENSION_SERVICES: tuple[type[ServiceBase], ...] = (EsdkExtensionService,)


def all_services() -> list[type[ServiceBase]]:
    served = [service for endpoint in ENDPOINTS for service in endpoint.services]
    return served + list(EXTENSION_SERVICES)
