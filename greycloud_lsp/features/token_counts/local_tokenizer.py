"""Exact, offline token counts with the vocabulary google-genai's ``LocalTokenizer`` uses.

google-genai maps each model it knows to a vocabulary: ``gemma3`` (a
SentencePiece ``.model`` it downloads from GitHub) or ``gemma4`` (a Hugging Face
``tokenizer.json`` it loads with ``transformers``, for gemini-3.5-flash,
gemini-3.1-pro-preview, gemini-3.1-flash-lite). Its private tables are read
through `greycloud._genai_compat`. For ``tokenCount.localModelPath``:

* a SentencePiece file that IS the official model for the configured Gemini
  model (hash matches google-genai's table) is placed in google-genai's cache
  so ``LocalTokenizer`` finds it there and never touches the network;
* any other SentencePiece file (a custom one, e.g. the tiny one the tests
  train) is loaded with ``sentencepiece``;
* a ``tokenizer.json`` (or a directory holding one, like a Hugging Face
  snapshot) is loaded with the light ``tokenizers`` package, no ``transformers``.

Either way a text's count is the number of pieces it encodes into, without
special tokens, as ``LocalTokenizer`` counts text. Without a path, gemma4 models
use a ``tokenizer.json`` already in the Hugging Face cache; otherwise the error
says why the model cannot be counted locally.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from greycloud import _genai_compat as compat

log = logging.getLogger(__name__)

Counter = Callable[[str], int]
INSTALL_HINT = (
    "pip install sentencepiece tokenizers (GreyCloud's local-tokenizer extra: "
    'pip install -e ".[local-tokenizer]" in a clone)'
)


class LocalTokenizerUnavailable(RuntimeError):
    """The local tokenizer cannot be used here; the message says why and what to do."""


def _require(module: str, purpose: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise LocalTokenizerUnavailable(
            f"{purpose} needs the {module} package: {INSTALL_HINT}"
        ) from None


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# -- google-genai's own LocalTokenizer (SentencePiece vocabularies) -----------------


def _sdk_vocabulary(model: str) -> str | None:
    try:
        return compat.sdk_tokenizer_name(model)
    except ImportError:  # google-genai's loader imports sentencepiece
        raise LocalTokenizerUnavailable(
            f"google-genai's LocalTokenizer needs the sentencepiece package: {INSTALL_HINT}"
        ) from None


def _sdk_source(model: str) -> compat.SentencePieceSource | None:
    name = _sdk_vocabulary(model)
    return compat.sentencepiece_source(name) if name else None


def sdk_model_cached(model: str) -> bool:
    """True if google-genai can build ``LocalTokenizer(model)`` without downloading."""
    source = _sdk_source(model)
    return source is not None and os.path.exists(source.cache_path)


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
    source = _sdk_source(model)
    if source is None or hashlib.sha256(data).hexdigest() != source.sha256:
        return False
    path = source.cache_path
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)
    return True


# -- files -------------------------------------------------------------------------


def _tokenizer_json_counter(path: Path, label: str) -> Counter:
    _require("tokenizers", "a tokenizer.json")
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise LocalTokenizerUnavailable(f"{label} is not a tokenizer.json ({exc})") from None
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids) if text else 0


def _sentencepiece_counter(data: bytes, label: str) -> Counter:
    _require("sentencepiece", "a SentencePiece model")
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(data)
    except Exception as exc:
        raise LocalTokenizerUnavailable(
            f"{label} is neither a SentencePiece model nor a tokenizer.json ({exc})"
        ) from None
    return lambda text: len(processor.encode(text)) if text else 0


def _from_path(model: str, model_path: str) -> Counter:
    path = Path(model_path).expanduser()
    label = f"tokenCount.localModelPath {str(path)!r}"
    if path.is_dir():
        path = path / "tokenizer.json"
        if not path.is_file():
            raise LocalTokenizerUnavailable(f"{label} is a directory without a tokenizer.json")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LocalTokenizerUnavailable(f"{label} cannot be read ({exc.strerror})") from None
    if data.lstrip()[:1] == b"{":
        counter = _tokenizer_json_counter(path, label)
        log.info("local tokenizer: tokenizer.json %s for %s", path, model)
        return counter
    if _seed_sdk_cache(data, model):
        _require("sentencepiece", "google-genai's LocalTokenizer")
        log.info("local tokenizer: official model for %s loaded from %s", model, path)
        return _sdk_counter(model)
    counter = _sentencepiece_counter(data, label)
    log.info("local tokenizer: SentencePiece model %s (not the official one for %s)", path, model)
    return counter


def huggingface_cached_tokenizer(repo: str) -> Path | None:
    """``tokenizer.json`` of ``repo`` in the local Hugging Face cache, if downloaded before."""
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub"
    )
    snapshots = Path(hub) / f"models--{repo.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob("*/tokenizer.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


# -- entry point ---------------------------------------------------------------------


def load_counter(model: str, model_path: str | None, *, allow_download: bool) -> Counter:
    """A function counting tokens of a text locally (blocking; call from a thread).

    Raises ``LocalTokenizerUnavailable`` saying why ``model`` cannot be counted
    locally here (no offline vocabulary and ``allow_download`` false, a missing
    package, an unreadable file, a model google-genai does not know).
    """
    if model_path:
        return _from_path(model, model_path)
    vocabulary = _sdk_vocabulary(model)
    if vocabulary is None:
        raise LocalTokenizerUnavailable(
            f"google-genai's LocalTokenizer does not know {model}: set "
            "tokenCount.localModelPath to its tokenizer file"
        )
    repo = compat.huggingface_repo(vocabulary)
    if repo is not None:
        cached = huggingface_cached_tokenizer(repo)
        if cached is not None:
            log.info("local tokenizer: %s from the Hugging Face cache for %s", cached, model)
            return _tokenizer_json_counter(cached, f"cached {cached}")
        if not (allow_download and _has_module("transformers")):
            raise LocalTokenizerUnavailable(
                f"{model} uses the {vocabulary} vocabulary, which google-genai loads from "
                f"Hugging Face ({repo}) with transformers: set tokenCount.localModelPath to "
                f"that repository's tokenizer.json ({INSTALL_HINT})"
            )
    elif not allow_download and not sdk_model_cached(model):
        raise LocalTokenizerUnavailable(
            f"no local tokenizer model for {model} on this machine: set "
            "tokenCount.localModelPath or tokenCount.mode 'local' to download it"
        )
    try:
        return _sdk_counter(model)
    except Exception as exc:
        raise LocalTokenizerUnavailable(f"local tokenizer for {model}: {exc}") from None
