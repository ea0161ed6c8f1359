"""The SIP user agent core (RFC 3261 sections 8, 12-15): a UAC that places INVITEs, sends
re-INVITEs, BYEs, CANCELs, OPTIONS and REGISTERs (answering digest challenges), and a UAS that
answers INVITEs (100 Trying, 180 Ringing, then the answer or a rejection from `on_invite`),
re-INVITEs (`on_reinvite`), BYE, CANCEL (487 for the INVITE), OPTIONS, INFO with
application/dtmf-relay (`on_dtmf`), and REGISTER when it holds a registrar. Session bodies are
opaque bytes (application/sdp): the callbacks make the offers and answers.

Requests the UAS cannot take get the status of section 8.2: 416 for a non-SIP URI scheme, 420
with Unsupported for an unknown Require, 415 for a body type it does not take, 501 for an
unknown method, 405 for REGISTER without a registrar, 481 for a request in no dialog, 500 for
an out-of-order CSeq, 491 for a re-INVITE while one is pending."""

from __future__ import annotations

from sip.registrar import Registrar
from sip.ua_client import UaClient
from sip.ua_core import (
    ACCEPT,
    ALLOW,
    MAX_REDIRECTS,
    REASONS,
    SDP,
    SUPPORTED,
    DialogHandler,
    DtmfHandler,
    InviteHandler,
    ReinviteHandler,
    SipReject,
    UaSettings,
)
from sip.ua_server import UaServer

# the parts' names, re-exported: importers use this module's names (a new module imports from
# the part that defines one)
__all__ = [
    "ACCEPT",
    "ALLOW",
    "MAX_REDIRECTS",
    "REASONS",
    "SDP",
    "SUPPORTED",
    "DialogHandler",
    "DtmfHandler",
    "InviteHandler",
    "ReinviteHandler",
    "SipReject",
    "SipUserAgent",
    "UaSettings",
]


class SipUserAgent(UaClient, UaServer):
    """A UAC and a UAS on one set of transports (parts: sip/ua_core.py, sip/ua_client.py,
    sip/ua_server.py)."""

    def __init__(self, settings: UaSettings | None = None, *,
                 on_invite: InviteHandler | None = None,
                 on_reinvite: ReinviteHandler | None = None,
                 on_bye: DialogHandler | None = None,
                 on_dtmf: DtmfHandler | None = None,
                 registrar: Registrar | None = None) -> None:
        super().__init__(settings, on_invite=on_invite, on_reinvite=on_reinvite, on_bye=on_bye,
                         on_dtmf=on_dtmf, registrar=registrar)
        self.layer.on_request = self._on_request
        self.layer.on_ack = self._on_ack
        self.layer.on_stray_response = self._on_stray_response
