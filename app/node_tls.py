"""TLS on the cascade control connections between media nodes ([node] cascade_tls;
docs/deployment.md "TLS on the cascade links").

The control connection of a cascade link carries the SDES keys of the link's SRTP, so with
cascade_tls both ends verify each other: the root's listener asks the leaf for a certificate
and the leaf checks the root's, each against [node] cascade_ca only (a lab CA, or the one
self-signed certificate every node shares: pinned), not the system's CAs, and the leaf
checks that the root's certificate names the address it connects to (the root's media
address: an IP address SAN, or a DNS name). A node presents [tls]'s certificate, else a
self-signed one made once in data_dir/cascade-tls/ for its media address (then give its
certificate file to the others as their cascade_ca, or a CA bundle holding every node's).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from gateway.settings import Settings
from sip.certificates import self_signed

SELF_SIGNED_DIR = "cascade-tls"


class CascadeTlsError(Exception):
    """The node's cascade TLS cannot be set up (a certificate, key or CA file unreadable)."""


@dataclass(frozen=True)
class CascadeTls:
    server: ssl.SSLContext  # the node's cascade listener
    client: ssl.SSLContext  # its uplinks to roots


def cascade_tls(settings: Settings) -> CascadeTls | None:
    """The contexts of [node] cascade_tls; None when it is off."""
    node = settings.node
    if not node.cascade_tls:
        return None
    assert node.cascade_ca is not None  # node_settings refuses cascade_tls without one
    try:
        if settings.tls_cert is not None and settings.tls_key is not None:
            cert, key = settings.tls_cert, settings.tls_key
        else:
            cert, key = self_signed(settings.data_dir / SELF_SIGNED_DIR, settings.media_address)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.minimum_version = ssl.TLSVersion.TLSv1_2
        server.load_cert_chain(str(cert), str(key))
        server.load_verify_locations(cafile=str(node.cascade_ca))
        server.verify_mode = ssl.CERT_REQUIRED
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
        client.minimum_version = ssl.TLSVersion.TLSv1_2
        client.load_cert_chain(str(cert), str(key))
        client.load_verify_locations(cafile=str(node.cascade_ca))
    except (OSError, ssl.SSLError, ValueError) as error:
        raise CascadeTlsError(f"[node] cascade_tls: {error}") from None
    return CascadeTls(server, client)
