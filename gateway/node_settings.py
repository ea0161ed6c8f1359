"""The media nodes' place and cascade TLS, and the gateway's site pins (docs/deployment.md,
"Pinning sites to nodes" and "TLS on the cascade links"):

```toml
[node]                          # read by `mcu-sim node`
zone = "beijing"                # where the node is ("" none; --zone overrides)
cascade_tls = true              # the cascade control connections under TLS, both ways verified
cascade_ca = "/etc/mcu/ca.pem"  # the CA (or the one pinned certificate) peers must present;
                                # "" : [tls] cert, the nodes sharing one certificate

[site_zones]                    # read by `mcu-sim serve --redis`: site URI or pattern = place
"0301*" = "beijing"
"03020017" = "node:3"
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcu.nodes.site_pins import PinError, SitePins, check_zone

NODE_KEYS = frozenset({"zone", "cascade_tls", "cascade_ca"})


class NodeSettingsError(ValueError):
    """A [node] or [site_zones] value that cannot be used; the message says which."""


@dataclass(frozen=True)
class NodeSettings:
    zone: str = ""
    cascade_tls: bool = False
    cascade_ca: Path | None = None
    pins: SitePins = field(default_factory=SitePins)


def node_settings(section: Any, pins: Any, tls_cert: Path | None) -> NodeSettings:
    """[node] and [site_zones]; `tls_cert`: [tls] cert (the CA when cascade_ca is empty)."""
    if not isinstance(section, dict) or not isinstance(pins, dict):
        raise NodeSettingsError("[node] and [site_zones] are tables")
    unknown = set(section) - NODE_KEYS
    if unknown:
        raise NodeSettingsError(f"unknown keys in [node]: {sorted(unknown)}")
    zone = section.get("zone", "")
    cascade_tls = section.get("cascade_tls", False)
    cascade_ca = section.get("cascade_ca", "")
    if not isinstance(cascade_tls, bool):
        raise NodeSettingsError("[node] cascade_tls must be true or false")
    if not isinstance(cascade_ca, str):
        raise NodeSettingsError("[node] cascade_ca: the path of a PEM file, or empty")
    ca = Path(cascade_ca) if cascade_ca else tls_cert
    if cascade_tls and ca is None:
        raise NodeSettingsError("[node] cascade_tls needs cascade_ca (the CA or pinned "
                                "certificate the other nodes present) or [tls] cert")
    try:
        return NodeSettings(zone=check_zone(zone, "[node] zone") if zone else "",
                            cascade_tls=cascade_tls, cascade_ca=ca, pins=SitePins(pins))
    except PinError as error:
        raise NodeSettingsError(str(error)) from None
