"""GreyCloud: Gemini on Vertex AI, resilient and rate limited, from Python and the editor."""

from greycloud.async_client import GreyCloudAsyncClient
from greycloud.client import GreyCloudClient
from greycloud.config import GreyCloudConfig
from greycloud.errors import (
    APICallError,
    AuthenticationError,
    GreyCloudError,
    PermissionDeniedError,
    RequestTooLargeError,
    RetriesExhaustedError,
    StreamInterruptedError,
)
from greycloud.rate_limiter import VertexRateLimiter
from greycloud.streaming import AsyncTextStream, TextStream

__version__ = "0.1.0"

__all__ = [
    "APICallError",
    "AsyncTextStream",
    "AuthenticationError",
    "GreyCloudAsyncClient",
    "GreyCloudBatch",
    "GreyCloudCache",
    "GreyCloudClient",
    "GreyCloudConfig",
    "GreyCloudError",
    "PermissionDeniedError",
    "RequestTooLargeError",
    "RetriesExhaustedError",
    "StreamInterruptedError",
    "TextStream",
    "VertexRateLimiter",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Cache and batch helpers pull in Cloud Storage; import them on first use.
    if name == "GreyCloudCache":
        from greycloud.cache import GreyCloudCache

        return GreyCloudCache
    if name == "GreyCloudBatch":
        from greycloud.batch import GreyCloudBatch

        return GreyCloudBatch
    raise AttributeError(f"module 'greycloud' has no attribute {name!r}")
