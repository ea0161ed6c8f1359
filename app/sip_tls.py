"""The TLS contexts of the MCU's SIP user agent from the settings: the server certificate is
[tls]'s (the gateway's) when set, else a self-signed one made once in data_dir/sip-tls/ for
media_address; the client side (the MCU calling `sips:` sites) verifies with the system's CAs
and, when set, [tls]'s certificate (a lab whose room systems share the gateway's CA)."""

from __future__ import annotations

import ssl

from gateway.settings import Settings
from sip.certificates import client_context, self_signed, server_context

SELF_SIGNED_DIR = "sip-tls"


def sip_tls_contexts(settings: Settings) -> tuple[ssl.SSLContext | None, ssl.SSLContext]:
    """(server context or None without [sip] tls_port, client context)."""
    client = client_context(settings.tls_cert)
    if settings.sip.tls_port is None:
        return None, client
    if settings.tls_cert is not None and settings.tls_key is not None:
        return server_context(settings.tls_cert, settings.tls_key), client
    cert, key = self_signed(settings.data_dir / SELF_SIGNED_DIR, settings.media_address)
    return server_context(cert, key), client
