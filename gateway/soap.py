"""spyne on aiohttp: SOAP 1.1 and 1.2 served from the event loop, no WSGI thread.

A request goes: size / content type / encoding / DTD checks on the raw bytes (refused
before any XML parser sees them) -> spyne's ServerBase pipeline (generate_contexts,
get_in_object, get_out_object, serialize) on prebuilt Applications -> our envelope post-
processing (unqualified children, error replies reduced to resultCode) -> bytes.

Service modules declare operations with `operation(name)` on a `GatewayService` subclass;
the wire types come from gateway/wire.py, so a method only receives parsed values and
returns a `Reply`. `GatewayService.call_wrapper` does what every operation shares: the
check of the operation's required parameters (SOAP Client fault), the session check
(resultCode 571052032), the ownership check of the conference the request names
(gateway/ownership_check.py, mcu/ownership.py), the translation of DomainError into the
result code of gateway/result_codes.py, and the ordering of the reply into the response element.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from spyne import Application, ServiceBase, rpc
from spyne.error import Fault as SpyneFault
from spyne.error import ValidationError
from spyne.interface.wsdl import Wsdl11
from spyne.model.fault import Fault as FaultModel
from spyne.model.primitive import DateTime
from spyne.protocol.soap import Soap11, Soap12
from spyne.protocol.xml import XSI_TYPE
from spyne.server import ServerBase

from gateway import convert, ownership_check, result_codes
from gateway.wire import ALL_OPERATIONS, TNS, OperationSpec, datetime_text, omit_defaults
from mcu.errors import DomainError

if TYPE_CHECKING:
    from gateway.server import Gateway
    from gateway.sessions import Session, SessionStore

log = logging.getLogger("gateway.soap")


class _NoDocumentDumps(logging.Filter):
    """spyne's XML protocol logs each request and response document when its logger is set
    to DEBUG, and both may carry a clear conference password: those dumps (a document's
    bytes, or a line quoting the envelope) are dropped, so no password reaches a log
    whatever the logging configuration."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if isinstance(message, bytes):
            return False
        return not (isinstance(message, str) and "Envelope" in message)


logging.getLogger("spyne.protocol.xml").addFilter(_NoDocumentDumps())

HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
SOAP11_CONTENT_TYPE = "text/xml"
SOAP12_CONTENT_TYPE = "application/soap+xml"
SESSION_COOKIE = "JSESSIONID"

# Operations that may be called without an authenticated session.
OPEN_OPERATIONS = frozenset({"LoginRequest", "Authenticate"})


# --- what a service method sees ---------------------------------------------------------


@dataclass
class Reply:
    """A successful (or coded) answer: resultCode plus the response members by name."""

    result_code: int = result_codes.OK
    fields: dict[str, Any] = field(default_factory=dict)

    def __init__(self, result_code: int = result_codes.OK, **fields: Any) -> None:
        self.result_code = result_code
        self.fields = fields


@dataclass
class RequestContext:
    """Per request, in spyne's ctx.udc. `gateway` is what build_app wired together
    (sessions, scheduler, runtime, clock, settings, numbering)."""

    gateway: Gateway
    client_address: str
    session_id: str | None
    session: Session | None = None
    new_session_id: str | None = None  # set by Authenticate/LoginRequest: sent as Set-Cookie
    operation: str = ""
    result_code: int | None = None  # the answer's resultCode (None: not answered by one)


def request_context(ctx) -> RequestContext:
    return ctx.udc


def operation(name: str) -> Callable:
    """Declare the spyne method for WSDL operation `name` from its wire.OPERATIONS entry.

    The decorated function's parameters after ctx must be named like the request members
    (spyne binds them by position, the names document it)."""
    spec = ALL_OPERATIONS[name]
    in_types = [type_ for _, type_ in spec.request]
    out_types = tuple(type_ for _, type_ in spec.response)
    kwargs: dict[str, Any] = {"_operation_name": name, "_out_message_name": name + "Response"}
    if spec.namespace != TNS:
        # spyne names a message of another namespace as "{namespace}name"
        kwargs["_in_message_name"] = f"{{{spec.namespace}}}{name}"
        kwargs["_out_message_name"] = f"{{{spec.namespace}}}{name}Response"
    if len(out_types) == 1:
        kwargs.update(_returns=out_types[0], _out_variable_name=spec.response[0][0])
    else:
        kwargs.update(_returns=out_types, _out_variable_names=spec.response_names)

    def declare(function: Callable) -> Any:
        argument_names = function.__code__.co_varnames[1 : function.__code__.co_argcount]
        wanted = [member for member, _ in spec.request]
        if list(argument_names) != wanted:
            raise TypeError(f"{function.__name__} must take (ctx, {', '.join(wanted)})")
        return rpc(*in_types, **kwargs)(function)

    return declare


class GatewayService(ServiceBase):
    """Base of the four services; see the module docstring for what it does per call."""

    @classmethod
    def call_wrapper(cls, ctx, args=None):
        spec = ALL_OPERATIONS[ctx.descriptor.operation_name]
        call = request_context(ctx)
        call.operation = spec.name
        for member in spec.required_parameters:
            if getattr(ctx.in_object, member, None) is None:
                raise SpyneFault("Client.MissingParameter", f"{spec.name}: {member} is required")
        if spec.name not in OPEN_OPERATIONS:
            sessions: SessionStore = call.gateway.sessions
            call.session = sessions.touch(call.session_id)
            if call.session is None:
                call.result_code = result_codes.SESSION_INVALID
                return _response_values(spec, Reply(result_codes.SESSION_INVALID))
        try:
            convert.check_request(ctx.in_object, [member for member, _ in spec.request])
            if call.session is not None:  # the conference it names is the account's
                ownership_check.check(
                    ctx.in_object, call.session.actor, call.gateway.scheduler, call.gateway.runtime
                )
            reply = super().call_wrapper(ctx, args)
        except DomainError as error:
            log.info("%s refused: %s", spec.name, error)
            reply = Reply(result_codes.result_code(error.fault))
        if not isinstance(reply, Reply):
            raise TypeError(f"{spec.name} returned {type(reply).__name__}, not a Reply")
        values = _response_values(spec, reply)
        call.result_code = reply.result_code
        return values


def _response_values(spec: OperationSpec, reply: Reply) -> Any:
    names = spec.response_names
    unknown = set(reply.fields) - set(names[1:])
    if unknown:
        raise TypeError(f"{spec.name} reply has no members {sorted(unknown)}")
    values = [reply.result_code] + [omit_defaults(reply.fields.get(name)) for name in names[1:]]
    return values[0] if len(values) == 1 else tuple(values)


# --- faults -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SoapFault:
    """A fault to send: `sender` is SOAP 1.1 Client / SOAP 1.2 Sender, else Server/Receiver."""

    sender: bool
    code: str  # spyne-style dotted code, e.g. "Client.XMLSyntaxError"
    message: str
    http_status: int | None = None  # None: the SOAP binding's own status

    @classmethod
    def client(cls, code: str, message: str, http_status: int | None = None) -> SoapFault:
        return cls(True, f"Client.{code}", message, http_status)

    @classmethod
    def from_spyne(cls, error: SpyneFault) -> SoapFault:
        code = str(error.faultcode or "Server")
        sender = code == "Client" or code.startswith("Client.")
        return cls(sender, code, str(error.faultstring or ""))


def fault_envelope(version: int, fault: SoapFault) -> tuple[int, str, bytes]:
    """(http status, content type, body) of a SOAP fault in SOAP `version` (11 or 12),
    serialised by `serialise` like every answer (XML declaration included), whichever
    layer refused the request: the raw-bytes screening, spyne's parser (an unknown
    operation is spyne's ResourceNotFound) or a service."""
    if version == 12:
        envelope = etree.Element(f"{{{SOAP12_ENV}}}Envelope", nsmap={"env": SOAP12_ENV, "tns": TNS})
        body = etree.SubElement(envelope, f"{{{SOAP12_ENV}}}Body")
        element = etree.SubElement(body, f"{{{SOAP12_ENV}}}Fault")
        code = etree.SubElement(element, f"{{{SOAP12_ENV}}}Code")
        value = "env:Sender" if fault.sender else "env:Receiver"
        etree.SubElement(code, f"{{{SOAP12_ENV}}}Value").text = value
        subcode = fault.code.split(".", 1)[1] if "." in fault.code else ""
        if subcode:
            sub = etree.SubElement(code, f"{{{SOAP12_ENV}}}Subcode")
            etree.SubElement(sub, f"{{{SOAP12_ENV}}}Value").text = f"tns:{subcode}"
        reason = etree.SubElement(element, f"{{{SOAP12_ENV}}}Reason")
        text = etree.SubElement(reason, f"{{{SOAP12_ENV}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = fault.message
        status = fault.http_status or (400 if fault.sender else 500)
        return status, f"{SOAP12_CONTENT_TYPE}; charset=utf-8", serialise(envelope)
    envelope = etree.Element(f"{{{SOAP11_ENV}}}Envelope", nsmap={"soap": SOAP11_ENV})
    body = etree.SubElement(envelope, f"{{{SOAP11_ENV}}}Body")
    element = etree.SubElement(body, f"{{{SOAP11_ENV}}}Fault")
    etree.SubElement(element, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(element, "faultstring").text = fault.message
    status = fault.http_status or 500
    return status, f"{SOAP11_CONTENT_TYPE}; charset=utf-8", serialise(envelope)


def serialise(document: etree._Element) -> bytes:
    """The bytes of every SOAP document the gateway sends, answers and faults alike: UTF-8
    with the XML declaration, as the platform answers."""
    return etree.tostring(document, encoding="UTF-8", xml_declaration=True)


# --- raw-bytes screening ----------------------------------------------------------------

_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")
_UTF8_NAMES = {"utf-8", "utf8"}


def soap_version_of(content_type: str) -> int | None:
    """11, 12, or None for a content type that is not SOAP."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == SOAP11_CONTENT_TYPE:
        return 11
    if mime == SOAP12_CONTENT_TYPE:
        return 12
    return None


def screen_body(body: bytes, content_type: str) -> SoapFault | None:
    """Refuse what no XML parser should see: empty, not UTF-8, or declaring a DTD/entity."""
    charset = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", content_type, re.IGNORECASE)
    if charset and charset.group(1).lower() not in _UTF8_NAMES:
        return SoapFault.client("Encoding", f"charset {charset.group(1)} refused: send UTF-8")
    if not body.strip():
        return SoapFault.client("EmptyRequest", "the request body is empty")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return SoapFault.client("Encoding", f"the request body is not UTF-8: {error.reason}")
    if _DTD_MARKERS.search(body):
        return SoapFault.client("DTDForbidden", "DOCTYPE and ENTITY declarations are refused")
    declared = _XML_DECL_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).decode("ascii").lower() not in _UTF8_NAMES:
        return SoapFault.client("Encoding", "the XML declaration names an encoding other than UTF-8")
    return None


# --- the spyne pipeline -------------------------------------------------------------------


class _HttpServer(ServerBase):
    """spyne's transport object; the event loop and HTTP are aiohttp's."""

    transport = HTTP_TRANSPORT


@dataclass
class SoapAnswer:
    status: int
    content_type: str
    body: bytes
    new_session_id: str | None = None


class SoapDispatcher:
    """Every operation of the given services, dispatched by body element, in both SOAP
    versions. Built once; `answer` is the per-request path."""

    def __init__(self, services: Iterable[type[ServiceBase]]) -> None:
        services = list(services)
        self._servers = {
            11: _HttpServer(self._application(services, Soap11)),
            12: _HttpServer(self._application(services, Soap12)),
        }

    @staticmethod
    def _application(services: list[type[ServiceBase]], protocol) -> Application:
        app = Application(
            services,
            tns=TNS,
            name="eSDKService",
            in_protocol=_in_protocol(protocol),
            out_protocol=_out_protocol(protocol),
        )
        app.event_manager.add_listener("method_return_document", _shape_response)
        _route_foreign_namespaces(app)
        return app

    def answer(self, version: int, body: bytes, call: RequestContext) -> SoapAnswer:
        server = self._servers[version]
        ctx = _new_context(server)
        ctx.in_string = [body]
        ctx.udc = call
        try:
            (ctx, *_) = server.generate_contexts(ctx)
            if ctx.in_error is None:
                server.get_in_object(ctx)
        except Exception as error:
            # spyne's reader trips over some envelopes (e.g. an empty Body) with plain
            # exceptions; at this stage it only has the client's bytes to blame
            log.info("unreadable SOAP request: %r", error)
            fault = SoapFault.client("BadRequest", "the SOAP Body holds no readable operation")
            return SoapAnswer(*fault_envelope(version, fault))
        if ctx.in_error is not None:
            return self._fault(version, ctx.in_error)
        server.get_out_object(ctx)
        if ctx.out_error is not None:
            return self._fault(version, ctx.out_error)
        server.get_out_string(ctx)
        content_type = SOAP11_CONTENT_TYPE if version == 11 else SOAP12_CONTENT_TYPE
        return SoapAnswer(
            200, f"{content_type}; charset=utf-8", b"".join(ctx.out_string), call.new_session_id
        )

    @staticmethod
    def _fault(version: int, error: Exception) -> SoapAnswer:
        if isinstance(error, SpyneFault | FaultModel):
            fault = SoapFault.from_spyne(error)
        else:
            log.error("unexpected error in the SOAP pipeline", exc_info=error)
            fault = SoapFault(False, "Server", "Internal Error")
        return SoapAnswer(*fault_envelope(version, fault))


def _route_foreign_namespaces(app: Application) -> None:
    """spyne files every method under `{application tns}name` whatever its messages'
    namespace; an operation of another namespace (getPublicKey in esdk_platform) must be
    found by the body element its clients send, so it is re-filed under `{its ns}name`."""
    methods = app.interface.service_method_map
    for spec in ALL_OPERATIONS.values():
        filed = f"{{{TNS}}}{spec.name}"
        if spec.namespace != TNS and filed in methods:
            methods[f"{{{spec.namespace}}}{spec.name}"] = methods.pop(filed)


class _RequestReader:
    """Mixed into the SOAP protocols that read requests:
    - an xsi:type must name the element's own type or one derived from it (a FilterBaseEx's
      StringFilterEx): spyne alone takes any type of the application, so a string member
      sent as xsi:type="StringFilterEx" reached the services as an object (a Server fault).
      Refused: Client.ValidationError;
    - a value convert.py cannot read (convert.UnreadableValue, e.g. a dateTime) becomes a
      Client fault naming its element."""

    def from_element(self, ctx, cls, element):
        named = element.get(XSI_TYPE)
        if named is not None and self.parse_xsi_type:  # type: ignore[attr-defined]
            prefix, _, local = named.rpartition(":")
            namespace = element.nsmap.get(prefix or None)
            chosen = ctx.app.interface.classes.get(f"{{{namespace}}}{local}")
            declared = getattr(cls, "__orig__", None) or cls
            if chosen is not None and not issubclass(chosen, declared):
                raise ValidationError(named, "xsi:type %r is not a type of this element")
        try:
            return super().from_element(ctx, cls, element)  # type: ignore[misc]
        except convert.UnreadableValue as error:
            raise SpyneFault("Client.ValidationError", f"{_local(element.tag)}: {error}") from None


class _Soap11In(_RequestReader, Soap11):
    pass


class _Soap12In(_RequestReader, Soap12):
    pass


def _in_protocol(protocol):
    reader = (_Soap11In if protocol is Soap11 else _Soap12In)(validator=None)
    # dateTime values are read by the gateway's own rule (convert.wire_datetime)
    reader._from_unicode_handlers[DateTime] = lambda _cls, value: convert.wire_datetime(value)
    return reader


def _out_protocol(protocol):
    out = protocol(cleanup_namespaces=False)
    # spyne's Soap11 (and Soap12) pin dateTime output to isoformat(), which writes
    # microseconds or no fraction at all, over any per-type format: replace that one
    # serializer with the standard's server format (milliseconds) for every dateTime
    out._to_unicode_handlers[DateTime] = lambda _cls, value: datetime_text(value)
    # answers leave through the same serialiser as faults (`serialise`)
    out.create_out_string = lambda ctx, charset=None: setattr(
        ctx, "out_string", [serialise(ctx.out_document)]
    )
    return out


def _new_context(server: ServerBase):
    from spyne import MethodContext

    return MethodContext(server, MethodContext.SERVER)


def _shape_response(ctx) -> None:
    """The reference WSDL's children are unqualified (elementFormDefault unqualified) and
    spyne writes them in the target namespace: strip it. An answer with a non-zero
    resultCode carries only resultCode, as the platform answers."""
    document = ctx.out_document
    body = document[0] if document.tag.endswith("Envelope") and len(document) else None
    if body is not None and not body.tag.endswith("Body"):
        body = next((child for child in document if child.tag.endswith("Body")), None)
    if body is None or not len(body):
        return
    response = body[0]
    children = list(response)
    if children and children[0].text not in (None, "0") and _local(children[0].tag) == "resultCode":
        for child in children[1:]:
            response.remove(child)
    for element in response.iterdescendants():
        if isinstance(element.tag, str) and element.tag[0] == "{":
            element.tag = _local(element.tag)
    etree.cleanup_namespaces(document)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


# --- served WSDL --------------------------------------------------------------------------


class WsdlDocuments:
    """The WSDL of one endpoint, generated by spyne from the same types that parse the
    requests; one document per base URL seen (soap:address names the actual host),
    kept in a small cache so no request but the first per host pays for building it."""

    _CACHE_SIZE = 16

    def __init__(
        self, name: str, services: list[type[ServiceBase]], tns: str = TNS
    ) -> None:
        self._app = Application(
            services, tns=tns, name=name, in_protocol=Soap11(), out_protocol=Soap11()
        )
        self._tns = tns
        self._server = _HttpServer(self._app)
        self._documents: OrderedDict[str, bytes] = OrderedDict()

    def document(self, url: str) -> bytes:
        cached = self._documents.get(url)
        if cached is not None:
            self._documents.move_to_end(url)
            return cached
        wsdl = Wsdl11(self._app.interface, element_form_default="unqualified")
        if self._tns == TNS:
            wsdl.event_manager.add_listener("wsdl_document_built", _reference_soap_actions)
        wsdl.build_interface_document(url)
        document = wsdl.get_interface_document()
        self._documents[url] = document
        if len(self._documents) > self._CACHE_SIZE:
            self._documents.popitem(last=False)
        return document


def _reference_soap_actions(wsdl) -> None:
    """SOAPAction as the reference declares it: http://smc.huawei.com/<operation>."""
    for element in wsdl.root_elt.iter("{http://schemas.xmlsoap.org/wsdl/soap/}operation"):
        action = element.get("soapAction")
        if action and not action.startswith(TNS):
            element.set("soapAction", TNS + action)
