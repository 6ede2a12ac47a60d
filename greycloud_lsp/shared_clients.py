"""Async clients several sessions share: one per connection and identity, counted by user.

`client_key` is what makes two clients behave differently: where they connect
(project, location, endpoint), as whom (API key, key file, service account to
impersonate, the session's credentials file or its gcloud), and the request
defaults the client applies (model, temperature, system instruction, ...).
Rate limits are not part of it: every client of a quota uses that quota's one
limiter. A client is used by sessions (and by background jobs borrowing it);
when its last user leaves, it is dropped and closed in the background.

Imports nothing of the server.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Hashable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.config import GreyCloudConfig
    from greycloud.rate_limiter import VertexRateLimiter
    from greycloud_lsp.background_work import BackgroundWork

log = logging.getLogger(__name__)

NOT_IN_KEY = frozenset(
    {
        "rpm",  # limits live in the quota's shared limiter
        "tpm",
        "max_concurrency",
        "gcs_bucket",  # batch jobs: not done by the async client
        "batch_gcs_bucket",
        "batch_location",
        "batch_poll_interval",
        "resolve_project",
        "api_key",  # as a digest, below
        "environ",  # as the identity it selects, below
    }
)


def identity_key(environ: Any) -> tuple[Any, ...]:
    """What selects the credentials of a config reading ``environ`` (no secret in it)."""
    from greycloud.adc_files import credentials_file_of
    from greycloud.gcloud_project import gcloud_variables

    if environ is None or environ is os.environ:
        return ("process",)
    credentials = credentials_file_of(environ)
    if credentials:
        return ("file", credentials)
    return ("gcloud", tuple(sorted(gcloud_variables(environ).items())))


def client_key(config: GreyCloudConfig) -> tuple[Any, ...]:
    """Everything that makes two clients behave differently (see the module docstring)."""
    values = tuple(
        (f.name, repr(getattr(config, f.name))) for f in fields(config) if f.name not in NOT_IN_KEY
    )
    api_key = hashlib.sha256(config.api_key.encode()).hexdigest() if config.api_key else None
    return (*values, ("api_key", api_key), ("identity", identity_key(config.environ)))


@dataclass
class _Entry:
    client: GreyCloudAsyncClient
    users: set[Hashable] = field(default_factory=set)


class SharedClients:
    """The clients in use, by `client_key`, each with the users holding it."""

    def __init__(self, background: BackgroundWork) -> None:
        self._background = background
        self._entries: dict[tuple[Any, ...], _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def use(
        self, config: GreyCloudConfig, user: Hashable, limiter: VertexRateLimiter
    ) -> GreyCloudAsyncClient:
        """The client for ``config`` (built on first use, on ``limiter``), held by ``user``."""
        from greycloud.async_client import GreyCloudAsyncClient

        key = client_key(config)
        entry = self._entries.get(key)
        if entry is None:
            client = GreyCloudAsyncClient(config, rate_limiter=limiter)
            entry = self._entries[key] = _Entry(client)
            log.info(
                "client ready: project=%s location=%s model=%s endpoint=%s",
                config.project_id,
                config.location,
                config.model,
                config.base_url,
            )
        entry.users.add(user)
        return entry.client

    def release(self, user: Hashable) -> int:
        """``user`` is done: drop the clients nobody uses any more (closed in the background).

        Returns how many were dropped.
        """
        unused = []
        for key, entry in list(self._entries.items()):
            entry.users.discard(user)
            if not entry.users:
                unused.append(self._entries.pop(key).client)
        for client in unused:
            log.info(
                "client of %s/%s unused: closing it",
                client.config.project_id,
                client.config.location,
            )
            self._background.run("close an unused client", client.aclose)
        return len(unused)

    async def aclose(self) -> None:
        """Close every client."""
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            try:
                await entry.client.aclose()
            except Exception as exc:
                log.debug("closing client: %s", exc)
