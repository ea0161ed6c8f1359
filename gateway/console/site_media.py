"""The media each site's call negotiated, for the console's health answer (docs/console.md,
"Health"): codecs, the format and profile it receives and its media protection
(rtp/encryption_policy.py MediaSecurity: "DTLS-SRTP" for WebRTC, "SDES-SRTP" or "RTP" for a
SIP site, with `encryption_exempt` for a WebRTC site under mediaEncryptType 2).

Why here and not on the SOAP wire: WS/T 546's SiteStatusEx (uri, name, status, volume,
videoSource, isMute, isQuiet, type, isLocalVideoOpen, callFailedReason, participantType,
screens) and the eSDK's MultiPointCDREx (site, rate, times, conference, creator, bill code)
have no member for a call's codecs or encryption, and the standard names none (its only
encryption field is the booking's mediaEncryptType); an extra element would break clients
generated from the reference WSDL. The runtime's SiteStatus carries it (`media`), read here
from the same query queryConfSitesStatusEx answers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mcu.errors import DomainError
from mcu.runtime import ConferenceRuntime


def negotiated_media(runtime: ConferenceRuntime, conf_id: str) -> list[dict[str, Any]]:
    """Each site in conference with what its call negotiated (JSON); [] when the
    conference is not live."""
    try:
        statuses = runtime.status.site_statuses(conf_id)
    except DomainError:
        return []
    return [{"uri": status.uri, **asdict(status.media)}
            for status in statuses if status.media is not None]
