"""The eSDK platform key service, PlatformKeyMgr (/esdk/services/platformKeyMgr, namespace
`esdk_platform`): getPublicKey and setSecretKey, as the eSDK SDK calls them after
Authenticate and before every booking (gateway/session_crypto.py has the algorithm).

Both need an authenticated session (571052032 without one, as every operation). Result
codes, as the eSDK platform's KeyService answers them:
- getPublicKey: secretType absent, empty or RSA2048 -> 0 and the key; anything else
  2130000038 (no such algorithm).
- setSecretKey: secretType other than absent, empty or AES128 -> 2130000038; no secretKey
  2130000039; no iv 2130000040; a value that does not RSA-decrypt (OAEP SHA-512, MGF1-SHA-1)
  with our key 2130000042; a plaintext that is not 32 hex characters (16 bytes) 2130000040.
  A refused setSecretKey leaves the session's key as it was; an accepted one replaces it.
"""

from __future__ import annotations

import logging

from gateway import session_crypto
from gateway.soap import GatewayService, Reply, operation, request_context

log = logging.getLogger("gateway.platform_key")


class PlatformKeyService(GatewayService):
    @operation("getPublicKey")
    def getPublicKey(ctx, secretType):  # noqa: N802, N803 - wire names
        gateway = request_context(ctx).gateway
        try:
            session_crypto.check_public_key_type(secretType)
        except session_crypto.KeyExchangeRefused as refusal:
            log.info("getPublicKey refused: %s", refusal.reason)
            return Reply(refusal.result_code)
        return Reply(publicKey=gateway.password_key.public_key_base64())

    @operation("setSecretKey")
    def setSecretKey(ctx, secretType, secretKey, iv):  # noqa: N802, N803
        call = request_context(ctx)
        try:
            cipher = session_crypto.negotiate(call.gateway.password_key, secretType, secretKey, iv)
        except session_crypto.KeyExchangeRefused as refusal:
            log.info("setSecretKey refused: %s", refusal.reason)
            return Reply(refusal.result_code)
        assert call.session is not None  # GatewayService.call_wrapper let only a session through
        call.session.cipher = cipher
        return Reply()
