"""The declared schema of the signalling messages: one field spec per dataclass field.

Each field of a message dataclass (rtc/signalling.py) declares what it accepts with
`spec(...)`, kept in the field's metadata; `build(cls, data)` checks a decoded JSON object
against those declarations and builds the dataclass, or raises SchemaError naming the field.
Nothing else checks the shape of a message: the handlers receive only values that passed.

`loads(text)` decodes JSON with its size bounded: nesting depth (MAX_DEPTH), and the length
of a number's text (MAX_NUMBER_CHARS); NaN and Infinity are refused. Python's own decoder
would raise RecursionError on deep nesting and ValueError on a number of thousands of digits:
both become SchemaError here. docs/signalling.md ("Validation") lists the limits.
"""

from __future__ import annotations

import json
import re
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from typing import Any, Protocol

MAX_DEPTH = 32  # nesting of JSON objects and arrays in one message
MAX_NUMBER_CHARS = 24  # the text of one JSON number (2**63 has 19 digits)
SEQ_MAX = 2**53  # the largest integer a JavaScript peer holds exactly

SCHEMA_KEY = "signalling_schema"

# C0 controls, DEL and lone surrogates (not encodable as UTF-8, nor as XML in SOAP answers).
_ONE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class SchemaError(ValueError):
    """A value that its field's spec refuses, or JSON beyond the decoder's bounds."""


class FieldSpec(Protocol):
    def check(self, value: Any, where: str) -> Any:
        """The value to store (possibly converted), or SchemaError naming `where`."""
        ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class Text:
    """A string of min_len..max_len characters (code points); no control characters, except
    tab, CR and LF when multiline; `blank_ok=False` refuses one of spaces only."""

    max_len: int
    min_len: int = 0
    multiline: bool = False
    blank_ok: bool = True

    def check(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise SchemaError(f"{where} must be a string")
        if not self.min_len <= len(value) <= self.max_len:
            raise SchemaError(f"{where} must be {self.min_len}..{self.max_len} characters, "
                              f"got {len(value)}")
        if not self.blank_ok and not value.strip():
            raise SchemaError(f"{where} must not be blank")
        bad = (_MULTI_LINE_BAD if self.multiline else _ONE_LINE_BAD).search(value)
        if bad is not None:
            raise SchemaError(f"{where} has a control character at {bad.start()}")
        return value

    def describe(self) -> str:
        return f"string {self.min_len}..{self.max_len}"


@dataclass(frozen=True)
class Integer:
    """An integer in low..high (JSON true/false are not integers)."""

    low: int
    high: int

    def check(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where} must be an integer")
        if not self.low <= value <= self.high:
            raise SchemaError(f"{where} must be in {self.low}..{self.high}")
        return value

    def describe(self) -> str:
        return f"integer {self.low}..{self.high}"


@dataclass(frozen=True)
class Number:
    """A finite JSON number (integer or fraction) in low..high, kept as a float (JSON true
    and false are not numbers; NaN and Infinity never get past `loads`)."""

    low: float
    high: float

    def check(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{where} must be a number")
        if not self.low <= value <= self.high:
            raise SchemaError(f"{where} must be in {self.low:g}..{self.high:g}")
        return float(value)

    def describe(self) -> str:
        return f"number {self.low:g}..{self.high:g}"


@dataclass(frozen=True)
class Boolean:
    """JSON true or false (0 and 1 are not booleans)."""

    def check(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise SchemaError(f"{where} must be true or false")
        return value

    def describe(self) -> str:
        return "boolean"


@dataclass(frozen=True)
class Choice:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def check(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise SchemaError(f"{where} must be one of {', '.join(self.values)}")
        return value

    def describe(self) -> str:
        return "one of " + ", ".join(self.values)


@dataclass(frozen=True)
class Optional:
    """null, or what `inner` accepts."""

    inner: FieldSpec

    def check(self, value: Any, where: str) -> Any:
        return None if value is None else self.inner.check(value, where)

    def describe(self) -> str:
        return f"null or {self.inner.describe()}"


@dataclass(frozen=True)
class ListOf:
    """A JSON array of at most max_items items, each what `item` accepts."""

    item: FieldSpec
    max_items: int
    min_items: int = 0

    def check(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise SchemaError(f"{where} must be a list")
        if not self.min_items <= len(value) <= self.max_items:
            raise SchemaError(f"{where} must have {self.min_items}..{self.max_items} items, "
                              f"got {len(value)}")
        return [self.item.check(item, f"{where}[{index}]") for index, item in enumerate(value)]

    def describe(self) -> str:
        return f"list of {self.min_items}..{self.max_items} {self.item.describe()}"


@dataclass(frozen=True)
class OneOf:
    """The first of `options` that accepts the value (e.g. a URL or a list of URLs)."""

    options: tuple[FieldSpec, ...]

    def check(self, value: Any, where: str) -> Any:
        errors = []
        for option in self.options:
            try:
                return option.check(value, where)
            except SchemaError as error:
                errors.append(str(error))
        raise SchemaError(" or ".join(errors))

    def describe(self) -> str:
        return " or ".join(option.describe() for option in self.options)


@dataclass(frozen=True)
class Table:
    """A JSON object with the `keys` listed (each optional unless in `required`); any other
    key is refused. Kept as a dict (e.g. an RTCIceServer dictionary)."""

    keys: tuple[tuple[str, FieldSpec], ...]
    required: frozenset[str] = frozenset()

    def check(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SchemaError(f"{where} must be an object")
        known = dict(self.keys)
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise SchemaError(f"{where} has unknown keys {unknown[:5]}")
        missing = sorted(self.required - set(value))
        if missing:
            raise SchemaError(f"{where} lacks {missing}")
        return {key: known[key].check(item, f"{where}.{key}") for key, item in value.items()}

    def describe(self) -> str:
        return "object {" + ", ".join(name for name, _ in self.keys) + "}"


@dataclass(frozen=True)
class Nested:
    """A JSON object read as the dataclass `cls`, whose fields declare their own specs."""

    cls: type

    def check(self, value: Any, where: str) -> Any:
        return build(self.cls, value, where)

    def describe(self) -> str:
        return f"object {self.cls.__name__}"


def spec(field_spec: FieldSpec, *, default: Any = MISSING,
         default_factory: Any = MISSING) -> Any:
    """A dataclass field declaring what it accepts (the schema is the fields' metadata)."""
    metadata = {SCHEMA_KEY: field_spec}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    if default is not MISSING:
        return field(default=default, metadata=metadata)
    return field(metadata=metadata)


def field_spec(f: Field[Any]) -> FieldSpec:
    found = f.metadata.get(SCHEMA_KEY)
    if found is None:  # a message class without its schema: a programming error
        raise TypeError(f"field {f.name} declares no schema spec")
    return found


def schema_of(cls: type) -> dict[str, FieldSpec]:
    """The declared table of a message class: field name -> spec."""
    return {f.name: field_spec(f) for f in fields(cls)}


def build(cls: type, data: Any, where: str) -> Any:
    """The dataclass `cls` from a decoded JSON object: every declared field checked against
    its spec, absent ones take their default (or SchemaError when there is none), keys the
    class does not declare are ignored (never read, never kept); a rule across fields that
    the class checks itself (its __post_init__ raising SchemaError) is named by `where`."""
    if not is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise SchemaError(f"{where} must be an object")
    values: dict[str, Any] = {}
    for f in fields(cls):
        name = f"{where}.{f.name}"
        if f.name in data:
            values[f.name] = field_spec(f).check(data[f.name], name)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise SchemaError(f"{name} is missing")
    try:
        return cls(**values)
    except SchemaError as error:  # a rule across fields (the class's __post_init__)
        raise SchemaError(f"{where}: {error}") from None


def _bounded_number(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise SchemaError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return text


def _parse_int(text: str) -> int:
    return int(_bounded_number(text))


def _parse_float(text: str) -> float:
    return float(_bounded_number(text))


def _refuse_constant(name: str) -> Any:
    raise SchemaError(f"{name} is not a JSON number")


def _depth_within(value: Any, limit: int) -> bool:
    """True when objects and arrays nest at most `limit` deep (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def loads(text: str | bytes) -> Any:
    """JSON with bounded depth and number size; SchemaError for anything it refuses."""
    try:
        value = json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                           parse_constant=_refuse_constant)
    except RecursionError:
        raise SchemaError(f"JSON nested deeper than {MAX_DEPTH}") from None
    except SchemaError:
        raise
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise SchemaError(f"not JSON: {str(error)[:200]}") from None
    if not _depth_within(value, MAX_DEPTH):
        raise SchemaError(f"JSON nested deeper than {MAX_DEPTH}")
    return value
