"""Exact, offline token counts with Gemini's SentencePiece tokenizer.

google-genai's ``LocalTokenizer`` downloads the tokenizer model on first use
and keeps it in its own cache directory (``$TMPDIR/vertexai_tokenizer_model``),
verified by SHA-256. It has no public "load this file" option, so for a
``tokenCount.localModelPath``:

* if the file IS the official model for the configured Gemini model (hash
  matches google-genai's table), we place it in google-genai's cache so
  ``LocalTokenizer`` finds it there and never touches the network;
* otherwise (a newer or custom model, e.g. the tiny one the tests train) we
  load it with ``sentencepiece`` directly and count the way ``LocalTokenizer``
  does for text: the number of pieces the model encodes the text into.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

Counter = Callable[[str], int]


class LocalTokenizerUnavailable(RuntimeError):
    """The local tokenizer cannot be used here; the message says why and what to do."""


def _require_sentencepiece() -> None:
    try:
        import sentencepiece  # noqa: F401
    except ImportError:
        raise LocalTokenizerUnavailable(
            "the local tokenizer needs sentencepiece: pip install 'greycloud[local-tokenizer]'"
        ) from None


def _sdk_cache_path(model: str) -> tuple[str, str] | None:
    """(cache file, expected sha256) google-genai uses for ``model``'s tokenizer, if known."""
    try:
        from google.genai import _local_tokenizer_loader as loader

        name = loader.get_tokenizer_name(model)
        config = loader._TOKENIZERS.get(name)
    except Exception:
        return None
    if config is None:
        return None
    cache_dir = os.path.join(tempfile.gettempdir(), "vertexai_tokenizer_model")
    filename = hashlib.sha1(config.model_url.encode()).hexdigest()
    return os.path.join(cache_dir, filename), config.model_hash


def sdk_model_cached(model: str) -> bool:
    """True if google-genai can build ``LocalTokenizer(model)`` without downloading."""
    found = _sdk_cache_path(model)
    return found is not None and os.path.exists(found[0])


def _sdk_counter(model: str) -> Counter:
    import warnings

    from google.genai.local_tokenizer import LocalTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = LocalTokenizer(model_name=model)

    def count(text: str) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(tokenizer.count_tokens(text).total_tokens or 0)

    return count


def _seed_sdk_cache(data: bytes, model: str) -> bool:
    found = _sdk_cache_path(model)
    if found is None or hashlib.sha256(data).hexdigest() != found[1]:
        return False
    path, _ = found
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)
    return True


def load_counter(model: str, model_path: str | None, *, allow_download: bool) -> Counter:
    """A function counting tokens of a text locally (blocking; call from a thread).

    Raises ``LocalTokenizerUnavailable`` when there is no offline model and
    ``allow_download`` is false, or when sentencepiece / the model file is missing.
    """
    _require_sentencepiece()
    if model_path:
        path = Path(model_path).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LocalTokenizerUnavailable(
                f"tokenCount.localModelPath {str(path)!r} cannot be read ({exc.strerror})"
            ) from None
        if _seed_sdk_cache(data, model):
            log.info("local tokenizer: official model for %s loaded from %s", model, path)
            return _sdk_counter(model)
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(data)
        except Exception as exc:
            raise LocalTokenizerUnavailable(
                f"tokenCount.localModelPath {str(path)!r} is not a SentencePiece model ({exc})"
            ) from None
        log.info(
            "local tokenizer: SentencePiece model %s (not the official one for %s)", path, model
        )
        return lambda text: len(processor.encode(text)) if text else 0
    if not allow_download and not sdk_model_cached(model):
        raise LocalTokenizerUnavailable(
            f"no local tokenizer model for {model} on this machine: set "
            "tokenCount.localModelPath or tokenCount.mode 'local' to download it"
        )
    try:
        return _sdk_counter(model)
    except Exception as exc:
        raise LocalTokenizerUnavailable(f"local tokenizer for {model}: {exc}") from None
