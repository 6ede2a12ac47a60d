"""State and decisions common to `GreyCloudClient` and `GreyCloudAsyncClient`."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from greycloud import retry
from greycloud._options import check_option_names
from greycloud._request import ContentsInput, PreparedRequest, prepare_request
from greycloud.config import GreyCloudConfig
from greycloud.rules import NON_NEGATIVE
from greycloud.streaming import StreamState

logger = logging.getLogger("greycloud")


class ClientCore:
    """Holds the config and turns calls into prepared requests and policies."""

    def __init__(
        self, config: GreyCloudConfig | None, retry_policy: retry.RetryPolicy | None = None
    ) -> None:
        self.config = config if config is not None else GreyCloudConfig()
        self.retry_policy = retry_policy or retry.RetryPolicy()

    def _prepare(self, contents: ContentsInput, **options: Any) -> PreparedRequest:
        check_option_names(options)
        return prepare_request(self.config, contents, **options)

    def _policy(self, max_retries: int) -> retry.RetryPolicy:
        NON_NEGATIVE.check("max_retries", max_retries)
        reauth = bool(self.config.auto_reauth) and not self.config.use_api_key
        return dataclasses.replace(
            self.retry_policy,
            max_retries=max_retries,
            reauth=reauth,
            max_retry_delay=self._patience,
        )

    @property
    def _patience(self) -> float:
        """The longest server-asked wait worth retrying after (``max_retry_delay``)."""
        return self.config.max_retry_delay or retry.DEFAULT_MAX_RETRY_DELAY

    def _translate(self, exc: BaseException, attempts: int = 1) -> BaseException:
        return retry.translate(
            exc,
            sa_email=self.config.sa_email,
            attempts=attempts,
            max_retry_delay=self._patience,
        )

    def _stream_broke(self, state: StreamState, exc: BaseException) -> BaseException:
        """The error for a stream that failed after text was delivered.

        A quota that waiting cannot fix raises `QuotaExhaustedError`, exactly as
        before the stream began; anything else is a `StreamInterruptedError`
        (never retried: that would repeat text), carrying a 429's quota details.
        """
        exhausted = retry.quota_exhausted(exc, self._patience)
        if exhausted is not None:
            return retry.with_api_details(exhausted, exc)
        return retry.with_api_details(state.interrupted(exc, quota=retry.quota_of(exc)), exc)

    def _count_fallback(self, prepared: PreparedRequest, exc: BaseException) -> int:
        logger.warning(
            "countTokens failed (%s); using the character-based estimate", retry.describe(exc)
        )
        return max(1, prepared.estimated_tokens)
