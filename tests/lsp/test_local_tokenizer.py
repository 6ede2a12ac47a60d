"""greycloud_lsp.features.token_counts.local_tokenizer: every model google-genai's LocalTokenizer knows can be
counted offline from a local file, and the reason is given when one cannot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from greycloud import _genai_compat as compat
from greycloud_lsp.features.token_counts.local_tokenizer import (
    LocalTokenizerUnavailable,
    load_counter,
)

TEXT = "abc defg hij abcdef ghij\n" * 20
GEMMA4 = "gemini-3.5-flash"


def expected_json_count(path: Path, text: str) -> int:
    from tokenizers import Tokenizer

    return len(Tokenizer.from_file(str(path)).encode(text, add_special_tokens=False).ids)


def test_every_sdk_model_counts_from_a_local_file(tiny_model, tiny_tokenizer_json):
    import sentencepiece as spm

    spm_count = len(spm.SentencePieceProcessor(model_file=tiny_model).encode(TEXT))
    json_count = expected_json_count(tiny_tokenizer_json, TEXT)
    models = compat.sdk_tokenizer_models()
    assert {"gemini-3.5-flash", "gemini-3.1-pro-preview", "gemini-3.1-flash-lite"} <= set(models)
    for model, vocabulary in models.items():
        if compat.huggingface_repo(vocabulary):
            assert load_counter(model, str(tiny_tokenizer_json), allow_download=False)(TEXT) == (
                json_count
            ), model
        else:
            assert load_counter(model, tiny_model, allow_download=False)(TEXT) == spm_count, model


def test_tokenizer_json_counts_without_special_tokens(tiny_tokenizer_json):
    from tokenizers import Tokenizer

    count = load_counter(GEMMA4, str(tiny_tokenizer_json), allow_download=False)
    with_bos = len(Tokenizer.from_file(str(tiny_tokenizer_json)).encode(TEXT).ids)
    assert count(TEXT) == with_bos - 1  # the API counts text, not the <bos> marker
    assert count("") == 0


def test_a_snapshot_directory_holding_tokenizer_json_works(tiny_tokenizer_json, tmp_path):
    snapshot = tmp_path / "gemma-4"
    snapshot.mkdir()
    shutil.copy(tiny_tokenizer_json, snapshot / "tokenizer.json")
    count = load_counter(GEMMA4, str(snapshot), allow_download=False)
    assert count(TEXT) == expected_json_count(tiny_tokenizer_json, TEXT)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LocalTokenizerUnavailable, match=r"without a tokenizer\.json"):
        load_counter(GEMMA4, str(empty), allow_download=False)


def test_gemma4_uses_the_hugging_face_cache(tiny_tokenizer_json, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(LocalTokenizerUnavailable) as info:
        load_counter(GEMMA4, None, allow_download=False)
    message = str(info.value)
    repo = compat.huggingface_repo("gemma4")
    assert "gemma4" in message and repo in message and "tokenCount.localModelPath" in message
    snapshot = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    shutil.copy(tiny_tokenizer_json, snapshot / "tokenizer.json")
    count = load_counter(GEMMA4, None, allow_download=False)
    assert count(TEXT) == expected_json_count(tiny_tokenizer_json, TEXT)


def test_reasons_when_a_model_cannot_be_counted_locally(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(LocalTokenizerUnavailable, match="does not know some-model"):
        load_counter("some-model", None, allow_download=True)
    # 'local' mode may download, but the gemma4 vocabulary needs transformers (absent here)
    with pytest.raises(LocalTokenizerUnavailable, match="transformers"):
        load_counter(GEMMA4, None, allow_download=True)
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(LocalTokenizerUnavailable, match=r"is not a tokenizer\.json"):
        load_counter(GEMMA4, str(bad), allow_download=False)
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(LocalTokenizerUnavailable, match="neither a SentencePiece model nor"):
        load_counter(GEMMA4, str(junk), allow_download=False)
    with pytest.raises(LocalTokenizerUnavailable, match="cannot be read"):
        load_counter(GEMMA4, str(tmp_path / "missing.json"), allow_download=False)
