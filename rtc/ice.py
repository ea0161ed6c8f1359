"""Bind WebRTC (aioice) to one media address, loopback by default.

aioice gathers host candidates from every interface except loopback, so on a machine with
another interface a call between two local processes would leave over that interface. Tests
and the default configuration must stay on 127.0.0.1, so the media address is a setting and
`host_addresses` offers it alone; rtc/aiortc_hooks.py `install()` puts it in the place of
aioice's candidate gathering. aiortc also adds Google's public STUN server when no ICE
servers are configured; `rtc_configuration()` gives it an empty list instead.
"""

from __future__ import annotations

import ipaddress

from aiortc import RTCConfiguration

DEFAULT_MEDIA_ADDRESS = "127.0.0.1"

_media_address = DEFAULT_MEDIA_ADDRESS


def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """aioice's `get_host_addresses`, answered with the media address alone."""
    version = ipaddress.ip_address(_media_address).version
    if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
        return [_media_address]
    return []


def use_media_address(address: str = DEFAULT_MEDIA_ADDRESS) -> None:
    """Make every ICE agent of this process offer exactly `address` as its host candidate."""
    global _media_address
    ipaddress.ip_address(address)  # refuse anything that is not an IP address
    _media_address = address


def media_address() -> str:
    return _media_address


def rtc_configuration() -> RTCConfiguration:
    """No STUN/TURN: both sides are on the media address, nothing to discover."""
    return RTCConfiguration(iceServers=[])
