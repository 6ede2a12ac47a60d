"""GreyCloud: Gemini on Vertex AI, resilient and rate limited, from Python and the editor.

The public names are imported on first use, so ``import greycloud.config`` (or
the language server's start-up) does not pay for loading google-genai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "APICallError": "greycloud.errors",
    "AsyncChat": "greycloud.async_chats",
    "AsyncTextStream": "greycloud.streaming",
    "AuthenticationError": "greycloud.errors",
    "Chat": "greycloud.chats",
    "ConfigError": "greycloud.rules",
    "GreyCloudAsyncCache": "greycloud.async_cache",
    "GreyCloudAsyncClient": "greycloud.async_client",
    "GreyCloudBatch": "greycloud.batch",
    "GreyCloudCache": "greycloud.cache",
    "GreyCloudClient": "greycloud.client",
    "GreyCloudConfig": "greycloud.config",
    "GreyCloudError": "greycloud.errors",
    "PermissionDeniedError": "greycloud.errors",
    "QuotaExhaustedError": "greycloud.errors",
    "RequestTooLargeError": "greycloud.errors",
    "RetriesExhaustedError": "greycloud.errors",
    "StreamInterruptedError": "greycloud.errors",
    "TextStream": "greycloud.streaming",
    "VertexRateLimiter": "greycloud.rate_limiter",
}

__all__ = [
    "APICallError",
    "AsyncChat",
    "AsyncTextStream",
    "AuthenticationError",
    "Chat",
    "ConfigError",
    "GreyCloudAsyncCache",
    "GreyCloudAsyncClient",
    "GreyCloudBatch",
    "GreyCloudCache",
    "GreyCloudClient",
    "GreyCloudConfig",
    "GreyCloudError",
    "PermissionDeniedError",
    "QuotaExhaustedError",
    "RequestTooLargeError",
    "RetriesExhaustedError",
    "StreamInterruptedError",
    "TextStream",
    "VertexRateLimiter",
    "__version__",
]

if TYPE_CHECKING:
    from greycloud.async_cache import GreyCloudAsyncCache
    from greycloud.async_chats import AsyncChat
    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.batch import GreyCloudBatch
    from greycloud.cache import GreyCloudCache
    from greycloud.chats import Chat
    from greycloud.client import GreyCloudClient
    from greycloud.config import GreyCloudConfig
    from greycloud.errors import (
        APICallError,
        AuthenticationError,
        GreyCloudError,
        PermissionDeniedError,
        QuotaExhaustedError,
        RequestTooLargeError,
        RetriesExhaustedError,
        StreamInterruptedError,
    )
    from greycloud.rate_limiter import VertexRateLimiter
    from greycloud.rules import ConfigError
    from greycloud.streaming import AsyncTextStream, TextStream


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greycloud' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
