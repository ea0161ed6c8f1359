"""The wire schema's building blocks: the reference WSDL's namespace, the member types with
their cardinalities (Str, Int, Dbl, Time, Span, Bin, Of), WireType (base of every
complexType) and how every dateTime goes out. Part of the wire schema (gateway/wire.py).
"""

from __future__ import annotations

from datetime import datetime

from spyne import ComplexModel
from spyne.model.binary import ByteArray
from spyne.model.primitive import DateTime, Double, Duration, Integer32, Unicode

TNS = "http://smc.huawei.com/"


def _occurs(type_, min_occurs: int, max_occurs: int | str):
    return type_.customize(min_occurs=min_occurs, max_occurs=max_occurs, nillable=False)


def Str(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802 - reads like the XSD type
    return _occurs(Unicode, min_occurs, max_occurs)


def Int(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Integer32, min_occurs, max_occurs)


def Dbl(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Double, min_occurs, max_occurs)


def datetime_text(value: datetime) -> str:
    """How every dateTime goes out: the standard's server format, milliseconds always
    written, e.g. 2013-05-07T22:46:31.235+08:00 (WS/T 546 4.3.1: "服务器端返回的格式为 ...").
    gateway/soap.py installs it as the SOAP protocols' dateTime serializer."""
    return value.isoformat(timespec="milliseconds")


def Time(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(DateTime, min_occurs, max_occurs)


def Span(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(Duration, min_occurs, max_occurs)


def Bin(min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    return _occurs(ByteArray, min_occurs, max_occurs)


def Of(type_, min_occurs: int, max_occurs: int | str = 1):  # noqa: N802
    """A member of complex type `type_` with the given cardinality."""
    return _occurs(type_, min_occurs, max_occurs)


class WireType(ComplexModel):
    """Base of every complexType of the reference WSDL."""

    __namespace__ = TNS


