"""Small text helpers shared by the features: a token estimate and a content digest.

Imports nothing of the server, so any module may use it.
"""

from __future__ import annotations

import hashlib


def estimate(text: str) -> int:
    """GreyCloud's fast, length-based token estimate."""
    from greycloud.tokens import estimate_tokens

    return estimate_tokens(text)


def digest(text: str) -> str:
    """A short content hash: equal digests mean equal text."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
