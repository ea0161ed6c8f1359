"""TP.Common: LoginRequest, Authenticate, KeepAlive, Logout (shared/reference/README.md)."""

from __future__ import annotations

from gateway import result_codes
from gateway.sessions import HASH_TYPE
from gateway.soap import GatewayService, Reply, operation, request_context


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
        login = call.gateway.sessions.authenticate(call.session_id, proof, call.client_address)
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
        call.gateway.sessions.end(call.session.session_id)
        return Reply(result_codes.OK)
