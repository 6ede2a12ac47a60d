"""What one admitted call holds in a `VertexRateLimiter` (split out of `greycloud.rate_limiter`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from greycloud.quotas import usage_tpm_tokens

if TYPE_CHECKING:
    from greycloud.rate_limiter import VertexRateLimiter


@dataclass(eq=False)
class _Admission:
    """One admitted request: its token charge and when the server surely had it.

    ``time`` stays None while the request is in flight: it then counts in every
    window, because the server may receive it at any moment. Once the server
    answers, ``time`` is that moment, an upper bound of the server's arrival.
    """

    tokens: int
    time: float | None = None
    shared_id: str | None = None  # its id in the shared quota, if it is there


class Reservation:
    """What one admitted call holds: a concurrency slot and a token charge."""

    def __init__(self, limiter: VertexRateLimiter, admission: _Admission) -> None:
        self._limiter = limiter
        self._admission = admission
        self._released = False

    @property
    def tokens(self) -> int:
        """Tokens currently charged for this call."""
        return self._admission.tokens

    def confirm(self) -> None:
        """Note that the server has answered (first byte, chunk or error)."""
        self._limiter._confirm(self._admission)

    def settle(self, actual_tokens: int) -> None:
        """Replace the estimate with the usage the server reported."""
        self._limiter._recharge(self._admission, max(0, int(actual_tokens)))

    def settle_usage(self, usage: Any) -> None:
        """Settle with what the quota counts of a response's ``usage_metadata``.

        The limiter's ``tpm_counts`` picks the tokens; without usage the charge stays.
        """
        tokens = usage_tpm_tokens(usage, self._limiter.tpm_counts)
        if tokens is not None:
            self.settle(tokens)

    def release(self) -> None:
        """Give the concurrency slot back (safe to call more than once)."""
        if not self._released:
            self._released = True
            self.confirm()
            self._limiter._release_slot(self._admission)

    def withdraw(self) -> None:
        """The call was never sent: give everything back, as if it had not been admitted."""
        if not self._released:
            self._released = True
            self._limiter._withdraw(self._admission)
