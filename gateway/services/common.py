"""TP.Common: LoginRequest, Authenticate, KeepAlive, Logout (shared/reference/README.md),
and `runtime_of`, how every service reaches the live conference runtime."""

from __future__ import annotations

from typing import Any

from gateway import result_codes
from gateway.sessions import HASH_TYPE
from gateway.soap import GatewayService, Reply, operation, request_context
from mcu.runtime import ConferenceRuntime


def runtime_of(ctx: Any) -> ConferenceRuntime:
    """The gateway's live conference runtime, for a service method's spyne ctx."""
    runtime = request_context(ctx).gateway.runtime
    if runtime is None:
        # a deployment error, not the client's: answered as a SOAP Server fault
        raise RuntimeError("the gateway was started without a conference runtime")
    return runtime


class CommonService(GatewayService):
    @operation("LoginRequest")
    def LoginRequest(ctx, userName, clientType, version):  # noqa: N802, N803 - wire names
        call = request_context(ctx)
        login = call.gateway.sessions.begin_login(userName, call.client_address)
        if login.session is None:
            return Reply(login.result_code)
        call.new_session_id = login.session.session_id
        return Reply(randomSequence=[login.session.challenge], hashType=HASH_TYPE)

    @operation("Authenticate")
    def Authenticate(ctx, encryptPassword):  # noqa: N802, N803
        call = request_context(ctx)
        # spyne hands base64Binary over as a list of byte chunks
        proof = b"".join(encryptPassword)
        login = call.gateway.sessions.authenticate(call.session_id, proof)
        if login.session is not None:
            call.new_session_id = login.session.session_id
        return Reply(login.result_code)

    @operation("KeepAlive")
    def KeepAlive(ctx):  # noqa: N802
        # the session check of GatewayService.call_wrapper has already refreshed it
        return Reply(result_codes.OK)

    @operation("Logout")
    def Logout(ctx):  # noqa: N802
        call = request_context(ctx)
        if call.session is not None:  # GatewayService.call_wrapper let only a session through
            call.gateway.sessions.end(call.session.session_id)
        return Reply(result_codes.OK)
