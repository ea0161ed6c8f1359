"""Bind WebRTC (aioice) to one media address, loopback by default.

aioice gathers host candidates from every interface except loopback, so on a machine with
another interface a call between two local processes would leave over that interface. Tests
and the default configuration must stay on 127.0.0.1, so the media address is a setting and
`host_addresses` offers it alone; rtc/aiortc_hooks.py `install()` puts it in the place of
aioice's candidate gathering. aiortc also adds Google's public STUN server when no ICE
servers are configured; `rtc_configuration()` gives it the configured ones instead, none
by default (loopback needs nothing to discover).

ICE servers (STUN/TURN, `[mcu] ice_servers` in the settings, announced to terminals in the
`registered` message): `IceServer`, read and checked by `parse_ice_servers` from the shape
the settings and the message share, a list whose items are a URL string or a table
`{urls, username, credential}`. A URL is `stun:host[:port]`, `turn:host[:port][?transport=
udp|tcp]` or `turns:host[:port][?transport=tcp]` (RFC 7064/7065, the forms aiortc can use);
a TURN server needs a username and a credential.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

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


class IceServerError(ValueError):
    """An ICE server entry that aiortc (or a browser) could not use; the message says why."""


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server, as WebRTC's RTCIceServer has it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The browser's RTCIceServer dictionary (what `registered` carries)."""
        value: dict[str, Any] = {"urls": list(self.urls)}
        if self.username is not None:
            value["username"] = self.username
        if self.credential is not None:
            value["credential"] = self.credential
        return value

    def rtc(self) -> RTCIceServer:
        return RTCIceServer(list(self.urls), self.username, self.credential)


def parse_ice_servers(value: Any) -> tuple[IceServer, ...]:
    """ICE servers from a list of URL strings and {urls, username, credential} tables;
    IceServerError naming the entry and the fault when one is not usable."""
    if not isinstance(value, list):
        raise IceServerError(f"a list of URLs or {{urls, username, credential}} tables, "
                             f"got {value!r}")
    return tuple(_ice_server(item, number) for number, item in enumerate(value, 1))


def _ice_server(item: Any, number: int) -> IceServer:
    where = f"entry {number}"
    if isinstance(item, str):
        item = {"urls": [item]}
    if not isinstance(item, dict):
        raise IceServerError(f"{where}: a URL string or a table, got {item!r}")
    unknown = set(item) - {"urls", "username", "credential"}
    if unknown:
        raise IceServerError(f"{where}: unknown keys {sorted(unknown)} "
                             "(urls, username and credential are known)")
    urls = item.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise IceServerError(f"{where}: urls must be a URL or a non-empty list of URLs")
    username, credential = item.get("username"), item.get("credential")
    for key, text in (("username", username), ("credential", credential)):
        if text is not None and not isinstance(text, str):
            raise IceServerError(f"{where}: {key} must be a string")
    for url in urls:
        scheme = _check_url(url, where)
        if scheme in ("turn", "turns") and not (username and credential):
            raise IceServerError(f"{where}: the TURN server {url!r} needs a username and "
                                 "a credential")
    return IceServer(tuple(urls), username, credential)


def _check_url(url: str, where: str) -> str:
    """The URL's scheme, once it is a STUN or TURN URL aiortc uses as written."""
    if "@" in url:
        raise IceServerError(f"{where}: {url!r}: a STUN/TURN URL carries no user; give "
                             "{urls, username, credential} instead")
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError as error:
        raise IceServerError(f"{where}: {url!r} is not a STUN or TURN URL ({error}); "
                             "e.g. stun:host:3478 or turn:host:3478?transport=udp") from None
    scheme, port = parsed["scheme"], parsed["port"]
    if scheme == "stuns":
        raise IceServerError(f"{where}: {url!r}: stuns (STUN over TLS) is not supported; "
                             "use stun: or turns:")
    if not 1 <= port <= 65535:
        raise IceServerError(f"{where}: {url!r}: port {port} is not 1..65535")
    transport = parsed.get("transport")
    allowed = {"turn": ("udp", "tcp"), "turns": ("tcp",)}.get(scheme)
    if allowed is not None and transport not in allowed:
        raise IceServerError(f"{where}: {url!r}: {scheme} transport {transport!r} is not "
                             f"one of {list(allowed)}")
    return str(scheme)


def rtc_configuration(ice_servers: Sequence[IceServer] = ()) -> RTCConfiguration:
    """The configuration of a peer connection: these STUN/TURN servers, none by default
    (both sides on the media address: nothing to discover). aiortc uses the first STUN and
    the first TURN URL it finds; a browser uses them all.

    Bundle policy max-bundle: every transceiver shares the first one's transport from the
    start (each call ends up bundled on one transport anyway). aiortc's default, balanced,
    gives a second video transceiver (the content stream) the first video transceiver's
    transport and marks it bundled, so the BUNDLE of the negotiation skips it and leaves
    it on a transport that is discarded: its sender and receiver never start."""
    return RTCConfiguration(iceServers=[server.rtc() for server in ice_servers],
                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
