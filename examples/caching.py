"""Context caching: cache a large document once, ask several questions against it.

Configuration comes from the environment (PROJECT_ID, LOCATION, GREYCLOUD_MODEL,
GREYCLOUD_ENDPOINT, ...), so this runs against Vertex AI or the local emulator.
Pass a text file to cache it; without one a generated sample document is used.
The cache is always deleted at the end, so storage charges stop.

    python examples/caching.py [DOCUMENT.txt]
"""

from __future__ import annotations

import sys
from pathlib import Path

from google.genai import types

from greycloud import GreyCloudCache, GreyCloudClient, GreyCloudConfig

QUESTIONS = [
    "Summarize the main points",
    "What are the key findings?",
    "List any recommendations",
]


def sample_document(paragraphs: int = 120) -> str:
    """A long, plain report: well above every model's minimum cacheable size."""
    lines = ["Field report on regional water usage."]
    for n in range(1, paragraphs + 1):
        lines.append(
            f"Section {n}. District {n} measured its reservoirs every week of the season. "
            f"Usage rose by {n % 7 + 2} percent during the dry months, while leaks in older "
            "pipes explained most of the losses. Crews replaced valves, trained staff and "
            "published the readings so residents could follow the trend."
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    document = Path(argv[0]).read_text(encoding="utf-8") if argv else sample_document()
    config = GreyCloudConfig()
    cache_client = GreyCloudCache(config)

    cache = cache_client.create_cache_from_text(
        text=document,
        display_name="greycloud-example-cache",
        system_instruction="You are a helpful document analyst.",
        ttl_seconds=3600,
    )
    try:
        print(f"Cache created: {cache.name}")
        print(f"Cached tokens: {cache.usage_metadata.total_token_count}")

        for question in QUESTIONS:
            response = cache_client.generate_with_cache(cache_name=cache.name, prompt=question)
            print(f"Q: {question}")
            print(f"A: {response.text}\n")

        # The same cache through GreyCloudClient, streamed.
        client = GreyCloudClient(config)
        contents = [
            types.Content(role="user", parts=[types.Part.from_text(text="Summarize the document")])
        ]
        for chunk in client.generate_content_stream(
            contents, cached_content=cache.name, model=cache_client.cache_model(cache)
        ):
            print(chunk, end="", flush=True)
        print("\n")

        for cached_content in cache_client.list_caches():
            info = cache_client.get_cache_info(cached_content)
            print(f"{info['name']}: {info.get('total_token_count', 'N/A')} tokens")

        cache_client.update_cache_ttl(cache.name, ttl_seconds=7200)
        estimate = cache_client.estimate_cost_savings(cache, len(QUESTIONS) + 1)
        print(
            f"Estimated saving for {estimate.queries} queries: ${estimate.saving:.6f} "
            f"(storage ${estimate.storage_cost_per_hour:.6f}/hour)"
        )
    finally:
        deleted = cache_client.delete_all_caches(display_name_filter="greycloud-example-cache")
        print(f"Deleted {deleted} cache(s)")
        cache_client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
