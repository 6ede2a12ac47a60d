"""The model call of a completion: through the library, inside the quota's completion lane.

The session's client for the completion model (``ls.get_client``) names the
quota and its limiter; a second client on the same config takes a
`greycloud.quota_lane.LaneLimiter` instead, so the library's one generate
path runs within ``quotaShare`` of that quota and raises `LaneFullError`
(nothing sent) rather than wait more than ``maxWaitMs``. One attempt, no
retry: a completion is worth nothing a second later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from greycloud_lsp.language_server import GreyCloudLanguageServer
from greycloud_lsp.settings import CompletionSettings

if TYPE_CHECKING:
    from greycloud.async_client import GreyCloudAsyncClient


class LaneClients:
    """One session's lane client, rebuilt when its quota, share or budget changes."""

    def __init__(self, ls: GreyCloudLanguageServer, on_admit: Callable[[], None]) -> None:
        self.ls = ls
        self.on_admit = on_admit
        self._key: tuple[Any, ...] | None = None
        self._client: GreyCloudAsyncClient | None = None

    def client(self, model: str, settings: CompletionSettings) -> GreyCloudAsyncClient:
        """The lane client for ``model`` under ``settings`` (made on first use)."""
        from greycloud.async_client import GreyCloudAsyncClient
        from greycloud.quota_lane import LaneLimiter, lane_of

        quota_client = self.ls.get_client(model)
        # The client itself, not its id(): a replaced client's id can be reused by the
        # next one, and the lane would keep the old config (project, credentials).
        key = (quota_client, settings.quota_share, settings.max_wait_ms)
        if self._client is None or self._key is None or not _same(key, self._key):
            quota = quota_client.rate_limiter
            limiter = LaneLimiter(
                quota,
                lane_of(quota, quota_client.config),
                share=settings.quota_share,
                max_wait=settings.max_wait_ms / 1000,
                on_admit=self.on_admit,
            )
            # Completions never use the generate settings' Vertex AI Search tool.
            config = quota_client.config.replace(use_vertex_ai_search=False)
            old, self._key = self._client, key
            self._client = GreyCloudAsyncClient(config, rate_limiter=limiter)  # type: ignore[arg-type]
            if old is not None:
                self.ls.spawn(old.aclose(), name="close completion client")
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._key = self._client, None, None
        if client is not None:
            await client.aclose()


def _same(key: tuple[Any, ...], other: tuple[Any, ...]) -> bool:
    return key[0] is other[0] and key[1:] == other[1:]


async def generate(
    client: GreyCloudAsyncClient,
    contents: list[Any],
    *,
    model: str,
    system_instruction: str | None,
    max_tokens: int,
    cached_content: str | None,
) -> str:
    """One completion call; its text (``LaneFullError`` when the lane has no room)."""
    response = await client.generate_content(
        contents,
        model=model,
        system_instruction=system_instruction,
        max_output_tokens=max_tokens,
        temperature=0.2,
        cached_content=cached_content,
    )
    return response.text or ""
