"""Request building, result reading and the call policy shared by both cache classes.

`GreyCloudCache` and `GreyCloudAsyncCache` are thin shells (like google-genai's
``Caches`` / ``AsyncCaches``): every argument check, request body, size rule,
result conversion and retry decision is made here once, so the two behave the
same on the wire.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from google.genai import types

from greycloud import retry
from greycloud._request import normalize_contents, short_model_name
from greycloud.cache_names import validate_cache_name
from greycloud.config import GreyCloudConfig
from greycloud.errors import GreyCloudError
from greycloud.pricing import CacheCostEstimate, ModelPrice, estimate_cache_cost, min_cache_tokens
from greycloud.storage import guess_mime_type, parse_gs_uri

if TYPE_CHECKING:
    from google import genai

    from greycloud.async_client import GreyCloudAsyncClient
    from greycloud.client import GreyCloudClient

T = TypeVar("T")

DEFAULT_TTL_SECONDS = 3600
FALLBACK_FILE_MIME_TYPE = "text/plain"


class CacheTooSmallError(GreyCloudError):
    """The content is below the model's minimum cacheable token count."""

    def __init__(self, message: str, *, token_count: int, min_tokens: int, model: str):
        super().__init__(message)
        self.token_count = token_count
        self.min_tokens = min_tokens
        self.model = model


@contextlib.contextmanager
def api_errors(config: GreyCloudConfig) -> Iterator[None]:
    """Raise API and transport failures as `GreyCloudError` (one attempt, no retry)."""
    try:
        yield
    except (GreyCloudError, ValueError, TypeError):
        raise
    except Exception as exc:
        raise retry.translate(exc, sa_email=config.sa_email) from exc


# -- arguments -------------------------------------------------------------------


def ttl_string(ttl_seconds: float) -> str:
    """The API's duration format for a positive number of seconds."""
    if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, (int, float)):
        raise ValueError(f"ttl_seconds={ttl_seconds!r} must be a number of seconds.")
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds={ttl_seconds!r} must be greater than 0.")
    return f"{int(ttl_seconds)}s" if float(ttl_seconds).is_integer() else f"{ttl_seconds:.3f}s"


def as_utc(value: dt.datetime | str) -> dt.datetime:
    """A datetime or ISO 8601 string as an aware UTC datetime (naive means UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"expire_time={value!r} is not an ISO 8601 time.") from None
    if not isinstance(value, dt.datetime):
        raise ValueError("expire_time must be a datetime or an ISO 8601 string.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def cache_name(cache: types.CachedContent | str) -> str:
    """The validated name of a cache object or name (see `greycloud.cache_names`)."""
    return validate_cache_name(cache.name if isinstance(cache, types.CachedContent) else cache)


def effective_min_tokens(model: str, min_tokens: int | None = None) -> int:
    """The size pre-check's minimum for ``model``: ``min_tokens`` when given (0: no
    check), else `greycloud.pricing.min_cache_tokens`. Refuses other values."""
    if min_tokens is None:
        return min_cache_tokens(model)
    if isinstance(min_tokens, bool) or not isinstance(min_tokens, int) or min_tokens < 0:
        raise ValueError(
            f"min_tokens={min_tokens!r} is not valid: give a token count (0 skips the "
            "size pre-check), or None for greycloud.pricing.MIN_CACHE_TOKENS."
        )
    return min_tokens


# -- requests --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CreateRequest:
    """Everything a cache creation sends: the size check first, then the create call."""

    model: str
    contents: list[types.Content]
    count_config: types.CountTokensConfig | None
    config: types.CreateCachedContentConfig
    min_tokens: int


def create_request(
    config: GreyCloudConfig,
    contents: Any,
    *,
    model: str | None,
    display_name: str | None,
    system_instruction: str | types.Content | None,
    tools: Sequence[types.Tool | Callable[..., Any]] | None,
    ttl_seconds: float | None,
    expire_time: dt.datetime | str | None,
    min_tokens: int | None,
) -> CreateRequest:
    """Check the arguments of ``create_cache`` and build its requests."""
    name = short_model_name(model or config.model or "")
    if not name:
        raise ValueError("No model: pass model= or set config.model.")
    minimum = effective_min_tokens(name, min_tokens)
    normalized = normalize_contents(contents)
    tools = cache_tools(tools)
    count_config = None
    if system_instruction is not None or tools:
        count_config = types.CountTokensConfig(system_instruction=system_instruction, tools=tools)
    return CreateRequest(
        model=name,
        contents=normalized,
        count_config=count_config,
        config=types.CreateCachedContentConfig(
            contents=normalized,
            display_name=display_name,
            system_instruction=system_instruction,
            tools=tools,
            ttl=None if expire_time is not None else ttl_string(ttl_seconds or DEFAULT_TTL_SECONDS),
            expire_time=as_utc(expire_time) if expire_time is not None else None,
        ),
        min_tokens=minimum,
    )


def cache_tools(
    tools: Sequence[types.Tool | Callable[..., Any]] | None,
) -> list[types.Tool] | None:
    """``tools`` for a cache: Python functions become one tool of their declarations
    (as google-genai declares them for Vertex AI), so a request on the cache can
    pass the same functions to have them called (see `greycloud._request`)."""
    if not tools:
        return None
    functions = [t for t in tools if callable(t) and not isinstance(t, types.Tool)]
    built = [t for t in tools if isinstance(t, types.Tool)]
    if len(functions) + len(built) != len(tools):
        raise TypeError("tools: give types.Tool objects or Python functions.")
    if functions:
        declarations = [
            types.FunctionDeclaration.from_callable_with_api_option(
                callable=function, api_option="VERTEX_AI"
            )
            for function in functions
        ]
        built.append(types.Tool(function_declarations=declarations))
    return built


def text_contents(text: str) -> list[types.Content]:
    """One text document as cache contents."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is empty: there is nothing to cache.")
    return [types.Content(role="user", parts=[types.Part.from_text(text=text)])]


def file_contents(
    file_uris: Sequence[str] | str,
    mime_type: str | Sequence[str | None] | None,
    text: str | None,
) -> list[types.Content]:
    """Cloud Storage files (and optional text) as cache contents; MIME types guessed."""
    if isinstance(file_uris, str):
        file_uris = [file_uris]
    uris = [parse_gs_uri(uri).uri for uri in file_uris]
    if not uris:
        raise ValueError("file_uris is empty: there is nothing to cache.")
    if isinstance(mime_type, str) or mime_type is None:
        given: list[str | None] = [mime_type] * len(uris)
    else:
        given = list(mime_type)
        if len(given) != len(uris):
            raise ValueError(
                f"mime_type has {len(given)} entries for {len(uris)} files: give one each, "
                "or one string for all."
            )
    parts = [
        types.Part.from_uri(
            file_uri=uri, mime_type=mime or guess_mime_type(uri, FALLBACK_FILE_MIME_TYPE)
        )
        for uri, mime in zip(uris, given, strict=True)
    ]
    if text:
        parts.append(types.Part.from_text(text=text))
    return [types.Content(role="user", parts=parts)]


def check_size(request: CreateRequest, counted: types.CountTokensResponse) -> int:
    """The counted total, or `CacheTooSmallError` below the request's minimum."""
    total = int(counted.total_tokens or 0)
    minimum, model = request.min_tokens, request.model
    if total < minimum:
        raise CacheTooSmallError(
            f"Content has {total} tokens but {model} can only cache {minimum} tokens or "
            f"more: add {minimum - total} tokens, or send it without a cache. If the API "
            "accepts less for this model, lower min_tokens (--min-tokens; 0 skips this check).",
            token_count=total,
            min_tokens=minimum,
            model=model,
        )
    return total


def update_config(
    ttl_seconds: float | None, expire_time: dt.datetime | str | None
) -> types.UpdateCachedContentConfig:
    """The update for a new lifetime; exactly one of the two must be given."""
    if (ttl_seconds is None) == (expire_time is None):
        raise ValueError("Give exactly one of ttl_seconds or expire_time.")
    if ttl_seconds is not None:
        return types.UpdateCachedContentConfig(ttl=ttl_string(ttl_seconds))
    assert expire_time is not None
    when = as_utc(expire_time)
    if when <= dt.datetime.now(dt.timezone.utc):
        raise ValueError(f"expire_time={when.isoformat()} is in the past.")
    return types.UpdateCachedContentConfig(expire_time=when)


def list_config(page_size: int) -> types.ListCachedContentsConfig:
    return types.ListCachedContentsConfig(page_size=page_size)


# -- results ---------------------------------------------------------------------


def cache_tokens(cache: types.CachedContent) -> int | None:
    """The cache's total token count, if the API reported it."""
    usage = cache.usage_metadata
    return usage.total_token_count if usage is not None else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def cache_info(found: types.CachedContent) -> dict[str, Any]:
    """A plain dict of a cache's metadata (times as ISO 8601 strings)."""
    return {
        "name": found.name,
        "display_name": found.display_name,
        "model": found.model,
        "total_token_count": cache_tokens(found),
        "create_time": _iso(found.create_time),
        "update_time": _iso(found.update_time),
        "expire_time": _iso(found.expire_time),
    }


def cost_estimate(
    found: types.CachedContent,
    config: GreyCloudConfig,
    num_queries: int,
    hours: float,
    prices: Mapping[str, ModelPrice] | None,
) -> CacheCostEstimate:
    tokens = cache_tokens(found)
    if tokens is None:
        raise GreyCloudError(f"Cache {found.name} does not report its token count.")
    model = found.model or config.model or ""
    return estimate_cache_cost(tokens, num_queries, model=model, hours=hours, prices=prices)


# -- call policy -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _NoResendPolicy(retry.RetryPolicy):
    """For creation, which is not idempotent: retry only refusals that created nothing
    (429 quota, 401 before re-authentication), never a 5xx or timeout that may have."""

    def should_retry(self, exc: BaseException, unauthenticated_so_far: int) -> bool:
        if retry.classify(exc) is retry.ErrorKind.TRANSIENT and retry.status_code(exc) != 429:
            return False
        return super().should_retry(exc, unauthenticated_so_far)  # a daily quota: no retry


def _policy(client: GreyCloudClient | GreyCloudAsyncClient, resend: bool) -> retry.RetryPolicy:
    policy = client._policy(client.retry_policy.max_retries)
    if resend:
        return policy
    fields = {f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)}
    return _NoResendPolicy(**fields)


def call_sync(
    client: GreyCloudClient, call: Callable[[genai.Client], T], *, resend: bool = True
) -> T:
    """``call(genai_client)`` with the sync client's retry policy and error translation."""
    return client._call(_policy(client, resend), lambda: call(client.client))


async def call_async(
    client: GreyCloudAsyncClient,
    call: Callable[[genai.Client], Awaitable[T]],
    *,
    resend: bool = True,
    rate_limited: bool = False,
) -> T:
    """``await call(genai_client)`` with the async client's retry policy (and its rate
    limiter when ``rate_limited``: one request, no tokens)."""

    async def attempt() -> T:
        genai_client = await client.ensure_client()
        if not rate_limited:
            return await call(genai_client)
        async with client.rate_limiter.limit(0):
            return await call(genai_client)

    return await client._call(_policy(client, resend), attempt)
