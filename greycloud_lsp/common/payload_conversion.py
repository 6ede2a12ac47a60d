"""JSON <-> payload objects: camelCase names, strict scalar types, errors naming the field.

Everything on the wire is camelCase; the attrs classes use snake_case and the
converter renames fields both ways. :func:`parse` turns a raw command argument
into a payload object or raises ``JsonRpcInvalidParams`` whose message names
the offending field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from pygls.exceptions import JsonRpcInvalidParams

T = TypeVar("T")


def camel(name: str) -> str:
    """``max_output_tokens`` -> ``maxOutputTokens``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _strict(kind: type, label: str) -> Callable[[Any, type], Any]:
    def hook(value: Any, _type: type) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {label}, got a boolean")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"expected {label}, got {type(value).__name__}")
        return value

    return hook


def _str_list(value: Any, _type: type) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    return list(value)


def make_converter() -> cattrs.Converter:
    """A converter with strict scalars and camelCase field names."""
    conv = cattrs.Converter(detailed_validation=True)
    conv.register_structure_hook(str, _strict(str, "a string"))
    conv.register_structure_hook(int, _strict(int, "an integer"))
    conv.register_structure_hook(float, _strict(float, "a number"))
    conv.register_structure_hook(bool, _strict(bool, "a boolean"))
    conv.register_structure_hook_func(lambda t: t == list[str], _str_list)

    def structure_factory(cls: type) -> Callable[[Any, type], Any]:
        fn = make_dict_structure_fn(
            cls, conv, **{a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        )

        def hook(value: Any, t: type) -> Any:
            if not isinstance(value, dict):
                raise TypeError("expected an object")
            return fn(value, t)

        return hook

    def unstructure_factory(cls: type) -> Callable[[Any], Any]:
        return make_dict_unstructure_fn(
            cls, conv, **{a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        )

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


converter = make_converter()


def _leaves(exc: BaseException, path: str) -> list[tuple[str, BaseException]]:
    if isinstance(exc, cattrs.ClassValidationError):
        with_notes, without = exc.group_exceptions()
        out = []
        for sub, note in with_notes:
            out.extend(_leaves(sub, f"{path}.{camel(note.name)}" if path else camel(note.name)))
        for sub in without:
            out.extend(_leaves(sub, path))
        return out
    if isinstance(exc, cattrs.BaseValidationError):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub, path)]
    return [(path, exc)]


def describe_error(exc: BaseException) -> str:
    """A short message naming every bad field of a (cattrs) validation error."""
    parts = []
    for path, leaf in _leaves(exc, ""):
        if isinstance(leaf, KeyError):
            parts.append(f"{path}: required field missing")
        elif isinstance(leaf, ValueError) and ": " in str(leaf):
            parts.append(str(leaf))  # our validators already name the field
        else:
            parts.append(f"{path or 'argument'}: {leaf}")
    return "; ".join(parts)


def plain(value: Any) -> Any:
    """JSON data from what pygls hands over (it turns unknown objects into namedtuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def parse(cls: type[T], arguments: Any, command: str) -> T:
    """Structure one command argument into ``cls`` or raise InvalidParams naming the field."""
    arguments = plain(arguments)
    if isinstance(arguments, (list, tuple)):
        if len(arguments) != 1:
            raise JsonRpcInvalidParams(
                f"{command}: expected exactly one argument object, got {len(arguments)}"
            )
        arguments = arguments[0]
    if not isinstance(arguments, dict):
        raise JsonRpcInvalidParams(f"{command}: argument: expected an object")
    try:
        return converter.structure(arguments, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise JsonRpcInvalidParams(f"{command}: {describe_error(exc)}") from None


def dump(obj: Any) -> Any:
    """Unstructure a payload into camelCase JSON-ready data."""
    return converter.unstructure(obj)
