"""One JSON codec for typed records (frozen dataclasses, nested): encode() and decode().

A record's JSON holds its fields by name, nested records and all. A record class whose
JSON says more than its fields (derived figures written for readers, as
comparison.Comparison does) defines to_json() and from_json() itself, and the codec uses
them wherever that class is nested. decode() builds the nested records from the fields'
types (Optional, List, Tuple, Dict[str, ...]); it refuses keys that are not fields,
naming the record, and leaves a field missing from older JSON at its default.
"""
import collections.abc
import dataclasses
import typing
from typing import Any, Mapping, Type, TypeVar

from petseg.core import errors

Record = TypeVar('Record')


def encode(value: Any) -> Any:
  """`value` as JSON: records by their fields (or their own to_json()), tuples as lists."""
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return value.to_json() if hasattr(value, 'to_json') else fields_to_json(value)
  if isinstance(value, Mapping):
    return {key: encode(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [encode(item) for item in value]
  return value


def fields_to_json(record: Any) -> dict:
  """A record's fields as JSON: what encode() writes for a record without its own
  to_json(), and what such a method starts from."""
  return {f.name: encode(getattr(record, f.name)) for f in dataclasses.fields(record)}


def decode(kind: Any, data: Any, name: str = 'record') -> Any:
  """The value of type `kind` that encode() wrote as `data`."""
  origin, args = typing.get_origin(kind), typing.get_args(kind)
  if data is None or kind is Any:
    return data
  if origin is typing.Union:  # Optional[X]
    return decode(next(a for a in args if a is not type(None)), data, name)
  # Anything else as it is: a settings file's `image_size: 160` is for the record's own
  # checks to take or refuse.
  if dataclasses.is_dataclass(kind) and isinstance(data, Mapping):
    return kind.from_json(data) if hasattr(kind, 'from_json') else fields_from_json(
        kind, data, name)
  if origin is list and isinstance(data, list):
    return [decode(args[0], item, name) for item in data]
  if origin is tuple and isinstance(data, (list, tuple)):
    items = args[:1] * len(data) if len(args) == 2 and args[1] is Ellipsis else args
    return tuple(decode(k, item, name) for k, item in zip(items, data))
  if origin in (dict, collections.abc.Mapping) and isinstance(data, Mapping):
    return {key: decode(args[1], item, name) for key, item in data.items()}
  return data


def fields_from_json(cls: Type[Record], data: Mapping[str, Any], name: str) -> Record:
  """`cls` from its fields' JSON, refusing keys that are not its fields (naming `name`)."""
  known = {f.name for f in dataclasses.fields(cls)}
  unknown = set(data) - known
  if unknown:
    raise errors.ConfigError(f'unknown {name} settings {sorted(unknown)}; '
                             f'expected some of {sorted(known)}')
  hints = typing.get_type_hints(cls)
  return cls(**{key: decode(hints[key], value, name) for key, value in data.items()})
