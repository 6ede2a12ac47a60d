"""Contract tests for the local-tokenizer section of greycloud._genai_compat.

Each test names the google-genai private it relies on: when an upgrade moves
or renames it, the failure says what to update in greycloud/_genai_compat.py.
"""

from __future__ import annotations

import importlib
import inspect

import google.genai
import pytest

from greycloud import _genai_compat as compat

GEMMA4_MODELS = ("gemini-3.5-flash", "gemini-3.1-pro-preview", "gemini-3.1-flash-lite")
HINT = (
    f"google-genai {google.genai.__version__} changed its private tokenizer loader; "
    "update the local-tokenizer section of greycloud/_genai_compat.py"
)


def loader():
    try:
        return importlib.import_module(compat.TOKENIZER_LOADER)
    except ImportError as exc:
        pytest.fail(f"{compat.TOKENIZER_LOADER} cannot be imported ({exc}): {HINT}")


@pytest.mark.parametrize(
    ("module", "name", "purpose"), compat.TOKENIZER_PRIVATE_APIS, ids=lambda v: str(v)[:40]
)
def test_each_private_name_still_exists(module, name, purpose):
    try:
        found = importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{module} cannot be imported ({exc}); GreyCloud uses it for {purpose}: {HINT}")
    for attribute in name.split("."):
        assert hasattr(found, attribute), (
            f"{module}.{name} is gone; GreyCloud uses it for {purpose}: {HINT}"
        )
        found = getattr(found, attribute)


def test_model_tables_list_the_gemma4_models():
    models = compat.sdk_tokenizer_models()
    assert models.get("gemini-2.5-flash") == "gemma3", HINT
    for model in GEMMA4_MODELS:
        assert models.get(model) == "gemma4", f"{model}: {HINT}"


def test_get_tokenizer_name_maps_models_and_refuses_unknown_ones():
    assert compat.sdk_tokenizer_name("gemini-2.5-pro") == "gemma3", HINT
    assert compat.sdk_tokenizer_name("gemini-3.1-pro-preview") == "gemma4", HINT
    assert compat.sdk_tokenizer_name("not-a-gemini-model") is None, HINT


def test_every_vocabulary_is_one_greycloud_can_load():
    """A new vocabulary kind (neither SentencePiece nor Hugging Face) needs new code."""
    for model, vocabulary in compat.sdk_tokenizer_models().items():
        spm = compat.sentencepiece_source(vocabulary)
        repo = compat.huggingface_repo(vocabulary)
        assert (spm is None) != (repo is None), (
            f"{model} uses vocabulary {vocabulary!r}, which is neither a SentencePiece "
            f"download nor a Hugging Face repository: {HINT}"
        )
        if spm is not None:
            assert spm.url.startswith("https://") and len(spm.sha256) == 64, HINT
    assert compat.huggingface_repo("gemma4"), HINT


def test_download_cache_location_is_where_the_sdk_looks():
    source = inspect.getsource(loader()._load)
    assert compat.SDK_TOKENIZER_CACHE_DIR in source and "sha1" in source, (
        f"_load no longer caches in $TMPDIR/{compat.SDK_TOKENIZER_CACHE_DIR}/sha1(url): {HINT}"
    )
    gemma3 = compat.sentencepiece_source("gemma3")
    assert gemma3 is not None and compat.SDK_TOKENIZER_CACHE_DIR in gemma3.cache_path


def test_public_local_tokenizer_still_takes_a_model_name():
    from google.genai.local_tokenizer import LocalTokenizer

    assert "model_name" in inspect.signature(LocalTokenizer).parameters, HINT
