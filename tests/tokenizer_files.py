"""Tiny tokenizer files built by the tests (no downloads): SentencePiece and tokenizer.json."""

from __future__ import annotations

import random
from pathlib import Path

BOS = "<bos>"


def corpus_lines(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 7))) for _ in range(300)
    ]
    return [" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000)]


def train_sentencepiece(directory: Path) -> str:
    """A ~100-piece SentencePiece model trained on generated text; returns its path."""
    import sentencepiece as spm

    corpus = directory / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()))
    prefix = directory / "tiny"
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=100,
        model_type="unigram",
        minloglevel=2,
    )
    return str(prefix) + ".model"


def build_tokenizer_json(directory: Path) -> Path:
    """A ~200-token BPE ``tokenizer.json`` that adds a ``<bos>`` special token like Gemma's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", BOS])
    tokenizer.train_from_iterator(corpus_lines(), trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", special_tokens=[(BOS, tokenizer.token_to_id(BOS))]
    )
    path = directory / "tokenizer.json"
    tokenizer.save(str(path))
    return path
