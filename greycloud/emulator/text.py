"""Deterministic text generation and token counting for the emulator.

Tokenizer: every match of ``\\w+|[^\\w\\s]`` is one token (a word or a single
punctuation character). Each ``fileData``/``inlineData`` part costs a fixed
``MEDIA_PART_TOKENS``. Response text is a pure function of the model, the
request text and the sampling settings, so streaming and non-streaming
answers to the same request are identical.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import re
from dataclasses import dataclass
from typing import Any

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
WORDS_DIRECTIVE_RE = re.compile(r"\[\[words=(\d+)\]\]")
MEDIA_PART_TOKENS = 258
ECHO_WORDS = 5
MAX_DIRECTIVE_WORDS = 200_000

WORDS = (
    "cloud gemini vertex model token stream region quota cache batch request answer "
    "signal vector river mountain lantern harbor meadow orbit pixel garden compass "
    "anchor beacon canyon delta ember falcon glacier horizon island jungle kernel "
    "ledger marble nectar oasis prism quartz raven summit tundra velvet willow zenith "
    "quickly calmly brightly softly boldly gently swiftly clearly quietly steadily "
    "builds carries follows gathers holds joins keeps lifts moves shapes turns writes"
).split()


def count_tokens(text: str) -> int:
    """Number of tokens in ``text`` under the emulator's tokenizer."""
    return len(TOKEN_RE.findall(text))


def token_starts(text: str) -> list[int]:
    """Start offsets of every token in ``text``."""
    return [m.start() for m in TOKEN_RE.finditer(text)]


def truncate_tokens(text: str, max_tokens: int) -> str:
    """Cut ``text`` right after its ``max_tokens``-th token."""
    matches = list(TOKEN_RE.finditer(text))
    if len(matches) <= max_tokens:
        return text
    if max_tokens <= 0:
        return ""
    return text[: matches[max_tokens - 1].end()]


def split_chunks(text: str, tokens_per_chunk: int) -> list[str]:
    """Split ``text`` into pieces of ``tokens_per_chunk`` tokens; they join back exactly."""
    starts = token_starts(text)
    if not starts:
        return [text]
    cuts = [0, *starts[tokens_per_chunk::tokens_per_chunk], len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def _part_texts(parts: Any) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def _media_parts(parts: Any) -> int:
    if not isinstance(parts, list):
        return 0
    return sum(1 for p in parts if isinstance(p, dict) and ("fileData" in p or "inlineData" in p))


@dataclass(frozen=True)
class PromptInfo:
    """Text and token count of a request's prompt."""

    text: str
    tokens: int


def prompt_info(body: dict[str, Any]) -> PromptInfo:
    """Collect prompt text (system instruction first) and count its tokens."""
    texts: list[str] = []
    media = 0
    system = body.get("systemInstruction")
    if isinstance(system, dict):
        texts += _part_texts(system.get("parts"))
        media += _media_parts(system.get("parts"))
    for content in body.get("contents") or []:
        if isinstance(content, dict):
            texts += _part_texts(content.get("parts"))
            media += _media_parts(content.get("parts"))
    text = "\n".join(texts)
    return PromptInfo(text, count_tokens(text) + media * MEDIA_PART_TOKENS)


def _seed(model: str, prompt: str, config: dict[str, Any]) -> bytes:
    key = f"{model}\x00{prompt}\x00{config.get('temperature')}\x00{config.get('seed')}"
    return hashlib.sha256(key.encode()).digest()


def _sentences(rng: random.Random, n_words: int) -> str:
    out: list[str] = []
    remaining = n_words
    while remaining > 0:
        size = min(remaining, rng.randint(6, 12))
        words = [rng.choice(WORDS) for _ in range(size)]
        out.append(words[0].capitalize() + " " + " ".join(words[1:]) + ".")
        remaining -= size
    return " ".join(s.replace(" .", ".") for s in out)


def requested_words(prompt: str) -> int | None:
    """The ``[[words=N]]`` directive's N, if present."""
    match = WORDS_DIRECTIVE_RE.search(prompt)
    return min(int(match.group(1)), MAX_DIRECTIVE_WORDS) if match else None


def response_text(model: str, prompt: str, config: dict[str, Any] | None = None) -> str:
    """Full (untruncated) deterministic answer for a request.

    Starts with ``Echo: <first words of the prompt>.`` then sentences drawn
    from ``WORDS``; about 40-60 tokens unless ``[[words=N]]`` asks otherwise
    (then exactly N generated words after the echo). A fill-in-the-middle prompt
    (`greycloud.fill_in_middle`) gets a code continuation instead
    (`greycloud.emulator.completion`).
    """
    from greycloud import fill_in_middle
    from greycloud.emulator.completion import continuation

    fim = fill_in_middle.parse(prompt)
    if fim is not None:
        return continuation(fim, prompt)
    config = config or {}
    rng = random.Random(_seed(model, prompt, config))
    echo_words = WORDS_DIRECTIVE_RE.sub(" ", prompt).split()[:ECHO_WORDS]
    echo = " ".join(w for w in (re.sub(r"[^\w-]", "", w) for w in echo_words) if w)
    n_words = requested_words(prompt)
    if n_words is None:
        n_words = rng.randint(32, 48)
    body = _sentences(rng, n_words)
    head = f"Echo: {echo}." if echo else "Echo."
    return f"{head} {body}" if body else head
