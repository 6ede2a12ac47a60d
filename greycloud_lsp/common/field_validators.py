"""attrs validators whose messages name the camelCase field, e.g. ``temperature: must be ...``.

Used by the payload and settings classes;
:func:`~greycloud_lsp.common.payload_conversion.describe_error` passes their messages
through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from greycloud.rules import Bound


def within(field: str, bound: Bound) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is None or inside ``bound`` (a `greycloud.rules` rule).

    The message names the camelCase ``field``, e.g. ``temperature: must be between 0 and 2``.
    """

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not bound.admits(value):
            raise ValueError(f"{field}: must be {bound.requirement}")

    return check


def non_empty(field: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is None or has a non-blank character."""

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None and not value.strip():
            raise ValueError(f"{field}: must not be empty")

    return check


def one_of(field: str, choices: tuple[str, ...]) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is one of ``choices`` (the message lists them)."""

    def check(_inst: Any, _attr: Any, value: str) -> None:
        if value not in choices:
            raise ValueError(f"{field}: must be one of {', '.join(choices)}")

    return check
