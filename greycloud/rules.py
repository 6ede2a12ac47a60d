"""Value rules written once: the ranges of generation settings and the number checks.

`GreyCloudConfig`, per-request options (``greycloud._request``), the language
server's settings and its command arguments all check their numbers against
the `Bound` objects here, so a range changes in one place. A value that breaks
a rule raises `ConfigError`, whose ``field`` names the setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A setting has a value GreyCloud cannot use.

    ``field`` is the `GreyCloudConfig` field (snake_case) the value was given
    for, or None when the problem is not one field's.
    """

    def __init__(self, message: str, *, field: str | None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Bound:
    """A number rule: at least (or, with ``exclusive``, more than) ``low``, at most ``high``."""

    low: float
    high: float | None = None
    exclusive: bool = False

    def admits(self, value: Any) -> bool:
        """Whether ``value`` is a number (not a bool) inside the bound."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
            return False  # not a number, a bool, or NaN
        if value < self.low or (self.exclusive and value == self.low):
            return False
        return self.high is None or value <= self.high

    @property
    def requirement(self) -> str:
        """The rule in words, e.g. ``between 0 and 2`` or ``greater than 0``."""
        if self.high is not None:
            return f"between {self.low:g} and {self.high:g}"
        return f"greater than {self.low:g}" if self.exclusive else f"{self.low:g} or greater"

    def check(self, field: str, value: Any) -> None:
        """Raise `ConfigError` naming ``field`` unless ``value`` is None or admitted."""
        if value is None or self.admits(value):
            return
        if self.high is not None:
            message = (
                f"{field}={value!r} is out of range: "
                f"use a number from {float(self.low)} to {float(self.high)}."
            )
        else:
            message = f"{field}={value!r} is not valid: use a number {self.requirement}."
        raise ConfigError(message, field=field)


POSITIVE = Bound(0, exclusive=True)
NON_NEGATIVE = Bound(0)
IDLE_TIMEOUT = Bound(0, 7 * 24 * 3600)  # seconds the LSP daemon outlives its last window
TEMPERATURE = Bound(0.0, 2.0)
TOP_P = Bound(0.0, 1.0)
MAX_OUTPUT_TOKENS = POSITIVE
SHARE = Bound(0.0, 1.0, exclusive=True)  # a share of a quota: more than 0, at most all of it

GENERATION_BOUNDS: dict[str, Bound] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_output_tokens": MAX_OUTPUT_TOKENS,
}
"""The per-request generation numbers and their rules (snake_case names)."""

THINKING_LEVELS = ("minimal", "low", "medium", "high")


def thinking_level_name(level: Any) -> str:
    """``level`` as one of `THINKING_LEVELS` (case-insensitive), else `ConfigError`."""
    name = str(level).lower()
    if name not in THINKING_LEVELS:
        raise ConfigError(
            f"thinking_level={level!r} is not valid: use one of {', '.join(THINKING_LEVELS)}.",
            field="thinking_level",
        )
    return name
