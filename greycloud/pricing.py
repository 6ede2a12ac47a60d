"""Price table for context caching estimates, and the arithmetic behind them.

All prices are US dollars per one million tokens (storage: per million tokens
per hour, prorated). The defaults below are Vertex AI list prices for prompts of
up to 200k tokens as published when this table was written; they change, so
treat every estimate as an approximation and pass your own table (``prices=``)
or edit :data:`PRICES` at start-up when you need exact numbers.

| model prefix            | input | cached input | cache storage / hour |
|-------------------------|-------|--------------|----------------------|
| gemini-3-pro            | 2.00  | 0.20         | 4.50                 |
| gemini-3-flash          | 0.50  | 0.05         | 1.00                 |
| gemini-2.5-pro          | 1.25  | 0.125        | 4.50                 |
| gemini-2.5-flash-lite   | 0.10  | 0.01         | 1.00                 |
| gemini-2.5-flash        | 0.30  | 0.03         | 1.00                 |
| gemini-2.0-flash-lite   | 0.075 | 0.01875      | 1.00                 |
| gemini-2.0-flash        | 0.15  | 0.0375       | 1.00                 |
| anything else (default) | 0.50  | 0.05         | 1.00                 |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from greycloud._request import short_model_name
from greycloud.rules import NON_NEGATIVE, POSITIVE

TOKENS_PER_UNIT = 1_000_000

# Minimum cacheable tokens per model prefix (longest prefix wins), used by the
# cache classes' pre-check (and by the emulator, which refuses the same sizes).
# Google's pages disagree, and the pre-check must never refuse what the API
# accepts, so each entry is the LOWEST value any source gives (callers override
# it with ``min_tokens=``, the server with ``cache.minTokens``):
# * Vertex AI context-cache overview: 2,048 for Gemini 2.x, 4,096 for Gemini 3/3.1;
# * Gemini API caching page: 1,024 for 2.5 Flash and 3 Flash, 4,096 for 3 Pro,
#   4,096 or 2,048 (depending on the page's revision) for 2.5 Pro;
# * users report the API itself enforcing 1,024 on gemini-3.1-pro-preview.
DEFAULT_MIN_CACHE_TOKENS = 1024  # the lowest value any source gives for any model
MIN_CACHE_TOKENS: dict[str, int] = {
    "gemini-3.1-pro": 1024,  # users: the API enforces 1,024 (docs: 4,096)
    "gemini-3-pro": 4096,  # Vertex and Gemini API docs agree
    "gemini-3-flash": 1024,  # Gemini API docs (Vertex: 4,096)
    "gemini-2.5-pro": 2048,  # Vertex docs, newer Gemini API page (older: 4,096)
    "gemini-2.5-flash": 1024,  # Gemini API docs, also -lite (Vertex: 2,048)
    "gemini-2.0-flash": 2048,  # Vertex docs for 2.x, also -lite
}


@dataclass(frozen=True)
class ModelPrice:
    """Dollar prices per million tokens for one model family."""

    input_per_million: float
    cached_input_per_million: float
    storage_per_million_per_hour: float

    @property
    def cached_discount(self) -> float:
        """Fraction of the input price saved on each cached token (0.9 = 90 %)."""
        if self.input_per_million <= 0:
            return 0.0
        return 1.0 - self.cached_input_per_million / self.input_per_million


DEFAULT_PRICE = ModelPrice(0.50, 0.05, 1.00)

PRICES: dict[str, ModelPrice] = {
    "gemini-3-pro": ModelPrice(2.00, 0.20, 4.50),
    "gemini-3-flash": ModelPrice(0.50, 0.05, 1.00),
    "gemini-2.5-pro": ModelPrice(1.25, 0.125, 4.50),
    "gemini-2.5-flash-lite": ModelPrice(0.10, 0.01, 1.00),
    "gemini-2.5-flash": ModelPrice(0.30, 0.03, 1.00),
    "gemini-2.0-flash-lite": ModelPrice(0.075, 0.01875, 1.00),
    "gemini-2.0-flash": ModelPrice(0.15, 0.0375, 1.00),
}


def lookup_by_prefix(model: str, table: Mapping[str, object]) -> str | None:
    """The longest key of ``table`` that the short model name starts with."""
    name = short_model_name(model).lower()
    matches = [key for key in table if name.startswith(key.lower())]
    return max(matches, key=len) if matches else None


def min_cache_tokens(model: str) -> int:
    """The pre-check's minimum cacheable token count for ``model`` (longest matching
    prefix of `MIN_CACHE_TOKENS`, else `DEFAULT_MIN_CACHE_TOKENS`)."""
    key = lookup_by_prefix(model, MIN_CACHE_TOKENS)
    return MIN_CACHE_TOKENS[key] if key is not None else DEFAULT_MIN_CACHE_TOKENS


def price_for(model: str, prices: Mapping[str, ModelPrice] | None = None) -> ModelPrice:
    """The price entry for ``model`` (longest matching prefix), else the default."""
    table = PRICES if prices is None else prices
    key = lookup_by_prefix(model, table)
    return table[key] if key is not None else DEFAULT_PRICE


@dataclass(frozen=True)
class CacheCostEstimate:
    """What caching ``cached_tokens`` for ``hours`` and querying it ``queries`` times costs.

    ``saving`` is ``cost_without_cache - cost_with_cache``: negative means the
    cache costs more than it saves (too few queries, or kept too long).
    Only the cached part of each prompt is counted; the question tokens and the
    output cost the same either way.
    """

    model: str
    cached_tokens: int
    queries: int
    hours: float
    cost_without_cache: float
    cost_with_cache: float
    storage_cost_per_hour: float

    @property
    def saving(self) -> float:
        return self.cost_without_cache - self.cost_with_cache

    @property
    def saving_percent(self) -> float:
        if self.cost_without_cache <= 0:
            return 0.0
        return 100.0 * self.saving / self.cost_without_cache


def estimate_cache_cost(
    cached_tokens: int,
    queries: int,
    *,
    model: str,
    hours: float = 1.0,
    prices: Mapping[str, ModelPrice] | None = None,
) -> CacheCostEstimate:
    """Compare sending ``cached_tokens`` with each of ``queries`` calls against caching them."""
    NON_NEGATIVE.check("cached_tokens", cached_tokens)
    NON_NEGATIVE.check("queries", queries)
    POSITIVE.check("hours", hours)
    price = price_for(model, prices)
    millions = cached_tokens / TOKENS_PER_UNIT
    storage_per_hour = millions * price.storage_per_million_per_hour
    without = queries * millions * price.input_per_million
    with_cache = queries * millions * price.cached_input_per_million + storage_per_hour * hours
    return CacheCostEstimate(
        model=short_model_name(model),
        cached_tokens=cached_tokens,
        queries=queries,
        hours=hours,
        cost_without_cache=without,
        cost_with_cache=with_cache,
        storage_cost_per_hour=storage_per_hour,
    )
