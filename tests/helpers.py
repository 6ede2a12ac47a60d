"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

from greycloud.retry import RetryPolicy

# Real backoff shape, test-sized delays.
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
DATASTORE = "projects/emulator-project/locations/global/collections/default_collection/dataStores/docs"


def body_of(emulator, action: str = "generateContent", index: int = -1) -> dict:
    """The JSON body of a recorded request."""
    return emulator.state.requests_for(action)[index].body


def statuses(emulator, action: str) -> list[int | None]:
    """HTTP statuses the emulator answered for ``action``, in order."""
    return [r.status for r in emulator.state.requests_for(action)]


def thinking_level_of(generation_config: dict) -> str | None:
    """The thinking level sent; google-genai writes this one key in snake_case."""
    thinking = generation_config.get("thinkingConfig") or {}
    return thinking.get("thinkingLevel", thinking.get("thinking_level"))
