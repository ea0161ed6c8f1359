"""Runtime events over the wire: the events a node's media follows, as (class name, fields),
each field checked against the event class's own annotation (its declared schema) when
decoded.

Forwarded: what the gateway's runtime decides and a conference's media mirrors (mute,
quiet, volume, local video, video source, broadcast, layout, audio switch, chair, floor,
presentation, recording, live broadcast, video outputs, stream sources). Not forwarded:
ConferenceStarted / ConferenceEnded (the `start` and `end` commands carry them),
SiteCallStateChanged (the node's own calls make them), SpeakerChanged (the node's voice
switching decides it from its media's levels and reports it back) and CameraCommanded (the
gateway's signalling sends it to the terminal itself).
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, asdict, fields
from typing import Any

from mcu import events as ev
from mcu.nodes.messages import ForwardedEvent, NodeMessageError
from rtc.signalling_schema import (
    Boolean,
    FieldSpec,
    Integer,
    ListOf,
    Optional,
    SchemaError,
    Text,
)

FORWARDED: dict[str, type[ev.ConferenceEvent]] = {
    cls.__name__: cls
    for cls in (
        ev.SiteMuted, ev.SiteQuieted, ev.SiteVolumeChanged, ev.LocalVideoChanged,
        ev.VideoSourceChanged, ev.BroadcastChanged, ev.LayoutChanged, ev.AudioSwitchChanged,
        ev.ChairChanged, ev.FloorChanged, ev.PresentationChanged, ev.RecordingChanged,
        ev.LiveBroadcastChanged, ev.VideoOutputChanged, ev.StreamSourcesChanged,
    )
}
_TEXT = Text(1024)
_INT = Integer(-(2**31), 2**31 - 1)
_MAX_ITEMS = 64  # sub-pictures of a layout, sources of a stream


def _spec_of(hint: Any) -> tuple[FieldSpec, bool]:
    """(spec, is a tuple) for a field's type: str, int, bool, X | None, tuple[X, ...]."""
    if hint is str:
        return _TEXT, False
    if hint is bool:
        return Boolean(), False
    if hint is int:
        return _INT, False
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner, _ = _spec_of(next(arg for arg in args if arg is not type(None)))
        return Optional(inner), False
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item, _ = _spec_of(args[0])
        return ListOf(item, _MAX_ITEMS), True
    raise TypeError(f"no wire form for {hint!r}")


SCHEMAS: dict[str, dict[str, tuple[FieldSpec, bool]]] = {
    name: {key: _spec_of(hint) for key, hint in typing.get_type_hints(cls).items()}
    for name, cls in FORWARDED.items()
}


def forwarded(event: ev.RuntimeEvent) -> bool:
    return type(event).__name__ in FORWARDED and type(event) is FORWARDED[type(event).__name__]


def encode_event(event: ev.ConferenceEvent) -> ForwardedEvent:
    data = asdict(event)
    return ForwardedEvent(type(event).__name__,
                          {key: list(value) if isinstance(value, tuple) else value
                           for key, value in data.items()})


def decode_event(message: ForwardedEvent) -> ev.ConferenceEvent:
    """The event, every field checked; NodeMessageError when it is not one we forward or a
    field is missing, unknown or refused."""
    cls = FORWARDED.get(message.name)
    if cls is None:
        raise NodeMessageError(f"event {message.name[:40]!r} is not forwarded to nodes")
    schema = SCHEMAS[message.name]
    unknown = sorted(set(message.fields) - set(schema))
    if unknown:
        raise NodeMessageError(f"event {message.name} has unknown fields {unknown[:5]}")
    values: dict[str, Any] = {}
    try:
        for f in fields(cls):
            field_spec, is_tuple = schema[f.name]
            if f.name not in message.fields:
                if f.default is MISSING and f.default_factory is MISSING:  # required
                    raise SchemaError(f"event {message.name}.{f.name} is missing")
                continue
            value = field_spec.check(message.fields[f.name], f"{message.name}.{f.name}")
            values[f.name] = tuple(value) if is_tuple and value is not None else value
    except SchemaError as error:
        raise NodeMessageError(str(error)) from None
    return cls(**values)
