"""Terminal authentication on the signalling: a digest challenge, as SIP registrars do
(RFC 3261 section 22 with RFC 7616's SHA-256), reduced to what a WebSocket needs.

    MCU -> terminal   challenge {realm, nonce, algorithm: "SHA-256"}   (on open, after a failure)
    terminal -> MCU   register  {uri, ..., auth: {response}}

    HA1      = hex(SHA-256(uri ":" realm ":" secret))     what the MCU keeps per URI
    response = hex(SHA-256(HA1 ":" nonce))

The MCU stores HA1 only (a SIP registrar's digest store), never the secret; a nonce is
random, good for one attempt on one socket. The functions here are used by both sides: the
MCU (gateway/signalling.py, mcu/terminal_credentials.py) and the terminals (terminals/,
the browser page computes the same with WebCrypto).

Provisioning key (a lab convenience for many simulated terminals, docs/security.md): the
secret of a URI can be derived as hex(HMAC-SHA-256(key, uri)), so one key in the MCU's
settings and in a terminal process stands for a secret per URI. LAB_PROVISIONING_KEY is the
embedded default of both (gateway/defaults.toml holds the same value): it is public, and a
deployment replaces it or leaves it empty.
"""

from __future__ import annotations

import hashlib
import hmac

ALGORITHM = "SHA-256"
DEFAULT_REALM = "mcu-sim"
# Public: in this source and in gateway/defaults.toml. Replace it in any deployment.
LAB_PROVISIONING_KEY = "mcu-sim public lab provisioning key - replace in a deployment"


def _sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def digest_ha1(uri: str, realm: str, secret: str) -> str:
    """hex(SHA-256(uri:realm:secret)): what the MCU keeps for the URI."""
    return _sha256_hex(f"{uri}:{realm}:{secret}")


def digest_response(ha1: str, nonce: str) -> str:
    """hex(SHA-256(HA1:nonce)): the terminal's answer to a challenge."""
    return _sha256_hex(f"{ha1}:{nonce}")


def provisioned_secret(key: str, uri: str) -> str:
    """The secret of `uri` derived from a provisioning key: hex(HMAC-SHA-256(key, uri))."""
    return hmac.new(key.encode("utf-8"), uri.encode("utf-8"), hashlib.sha256).hexdigest()


def lab_secret(uri: str) -> str:
    """The secret of `uri` under the public embedded lab key (simulated terminals' default)."""
    return provisioned_secret(LAB_PROVISIONING_KEY, uri)
