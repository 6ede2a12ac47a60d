"""Deterministic code completions: what the emulator answers to a fill-in-the-middle prompt.

A prompt laid out by `greycloud.fill_in_middle` is answered with a plausible
continuation of its prefix instead of the usual sentences:

* the identifier being typed is finished with the most frequent longer
  identifier of the prompt that starts with it (else a generated tail);
* in the middle of a line (text follows the cursor on its line) that is all;
* at the end of a line the statement gets a call ``(name)`` and one more line
  ``name = name(name)`` at the line's indentation, never equal to the line
  after the cursor.

The answer never repeats the text after the cursor, unless the prompt holds
``[[fim-echo-suffix]]``: then the rest of the cursor's line follows the answer,
as models sometimes do (for testing that clients trim it); with
``[[fim-restate-word]]`` the answer starts with the whole word being typed. Words come from a
generator seeded by the text around the cursor, so equal prompts get equal
answers.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter

from greycloud.emulator.text import WORDS
from greycloud.fill_in_middle import FillInMiddle

ECHO_SUFFIX_DIRECTIVE = "[[fim-echo-suffix]]"
RESTATE_WORD_DIRECTIVE = "[[fim-restate-word]]"
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_TYPING = re.compile(r"[A-Za-z_]\w*\Z")


def _rng(fim: FillInMiddle) -> random.Random:
    key = f"{fim.prefix[-400:]}\x00{fim.suffix[:200]}".encode()
    return random.Random(hashlib.sha256(key).digest())


def _name(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}_{rng.choice(WORDS)}"


def _finish_word(fim: FillInMiddle, rng: random.Random) -> str:
    """The rest of the identifier being typed ('' when none is being typed)."""
    typing = _TYPING.search(fim.prefix)
    if typing is None:
        return ""
    partial = typing.group()
    known = Counter(_IDENTIFIER.findall(fim.prefix[: typing.start()] + " " + fim.suffix))
    longer = [w for w in known if w.startswith(partial) and len(w) > len(partial)]
    if longer:
        best = min(longer, key=lambda w: (-known[w], w))
        return best[len(partial) :]
    return f"_{rng.choice(WORDS)}"


def continuation(fim: FillInMiddle, prompt: str = "") -> str:
    """What goes at the cursor of ``fim`` (see the module docs)."""
    rng = _rng(fim)
    line = fim.prefix.rsplit("\n", 1)[-1]
    rest_of_line, _, after = fim.suffix.partition("\n")
    text = _finish_word(fim, rng)
    if rest_of_line.strip():
        text = text or _name(rng)
    else:
        indent = line[: len(line) - len(line.lstrip())]
        if line.strip():
            text += f"({_name(rng)})\n"
        next_line = after.split("\n", 1)[0]
        statement = f"{indent}{_name(rng)} = {_name(rng)}({_name(rng)})"
        while statement == next_line:
            statement = f"{indent}{_name(rng)} = {_name(rng)}()"
        text += statement
    if ECHO_SUFFIX_DIRECTIVE in prompt:
        text += rest_of_line
    if RESTATE_WORD_DIRECTIVE in prompt and (typing := _TYPING.search(fim.prefix)):
        text = typing.group() + text
    return text
